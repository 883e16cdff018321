/// The parameters of a tree of module objects, keyed as `state_dict()` keys them (`a.b.weight`),
/// read from the placeholders' state without importing any class.
///
/// Two shapes of state: `torch.save(model)` pickles each `nn.Module`'s `__dict__`, whose
/// `_parameters`, `_buffers` (less `_non_persistent_buffers_set`) and `_modules` hold the tree;
/// TorchScript pickles each module's attributes directly (tensors, submodules, and plain data
/// such as `training`, which is skipped).
enum ModuleTree {
    static let maximumDepth = 200

    static func stateDict(of root: PickleObject, file: String) throws(FormatError) -> [(
        key: String, value: PickleValue
    )] {
        var entries: [(key: String, value: PickleValue)] = []
        var visiting: Set<ObjectIdentifier> = []
        try collect(root, prefix: "", depth: 0, visiting: &visiting, into: &entries, file: file)
        return entries
    }

    private static func collect(
        _ object: PickleObject, prefix: String, depth: Int, visiting: inout Set<ObjectIdentifier>,
        into entries: inout [(key: String, value: PickleValue)], file: String
    ) throws(FormatError) {
        guard depth < maximumDepth, visiting.insert(ObjectIdentifier(object)).inserted else {
            throw FormatError(.malformed, file: file, "the module tree nests too deep or contains itself at \(prefix)")
        }
        defer { visiting.remove(ObjectIdentifier(object)) }
        guard case .dict(let state) = object.state else { return }
        func member(_ name: String) -> PickleValue? {
            state.entries.first { if case .string(name) = $0.key { true } else { false } }?.value
        }
        func members(_ value: PickleValue?) -> [(String, PickleValue)] {
            guard case .dict(let dict)? = value else { return [] }
            return dict.entries.compactMap { if case .string(let name) = $0.key { (name, $0.value) } else { nil } }
        }
        func visit(_ name: String, _ value: PickleValue) throws(FormatError) {
            switch value {
            case .tensor: entries.append((prefix + name, value))
            case .object(let child):
                try collect(
                    child, prefix: prefix + name + ".", depth: depth + 1, visiting: &visiting, into: &entries,
                    file: file)
            default: break  // None buffers, `training` and other plain attributes
            }
        }
        if member("_parameters") != nil || member("_modules") != nil {
            var transient: Set<String> = []
            if case .list(let names)? = member("_non_persistent_buffers_set") {
                for case .string(let name) in names.items { transient.insert(name) }
            }
            for (name, value) in members(member("_parameters")) { try visit(name, value) }
            for (name, value) in members(member("_buffers")) where !transient.contains(name) { try visit(name, value) }
            for (name, value) in members(member("_modules")) {
                if case .object = value { try visit(name, value) }
            }
        } else {
            for (name, value) in members(.dict(state)) { try visit(name, value) }
        }
    }
}
