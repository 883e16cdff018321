import UNetCheckpoint

/// Finds the state dict in whatever a `torch.save` file holds (a state dict, a training dict, a
/// Lightning or nnU-Net checkpoint, a module tree), picks the copy of the weights, and keeps the
/// container's other entries as JSON where they convert (docs/containers.md).
enum PyTorchContainer {
    /// Entries under which training scripts keep the model's trained weights, in order of preference.
    static let rawKeys = [
        "state_dict", "model_state_dict", "model", "net", "network", "network_weights", "weights", "params",
        "module",
    ]
    /// Entries that hold an EMA (or SWA) copy of them.
    static let emaKeys = [
        "ema", "ema_state_dict", "model_ema", "state_dict_ema", "ema_model", "model_ema_state_dict", "ema_state",
        "swa_model",
    ]
    /// Numpy arrays up to this many elements become JSON arrays.
    static let maximumArrayElements = 1024

    struct Resolved {
        /// The chosen state dict's entries under their own keys (non-tensor ones too).
        var stateDict: [(key: PickleValue, value: PickleValue)]
        /// Tensor key → key of the bare model, for the tensors of the copy taken.
        var names: [String: String]
        var info: ContainerInfo
        var entries: [String: JSONValue] = [:]
        var skipped: [String] = []
    }

    static func resolve(
        _ root: PickleValue, dialect: RestrictedUnpickler.Dialect, legacy: Bool, choice: WeightsChoice?, file: String
    ) throws(FormatError) -> Resolved {
        var info = ContainerInfo()
        info.legacyFormat = legacy
        switch root {
        case .object(let object):
            info.kind = dialect == .torchScript ? .torchScript : .wholeModule(className: object.className)
            let entries = try ModuleTree.stateDict(of: object, file: file)
            guard !entries.isEmpty else {
                throw FormatError(.unsupported, file: file, "the \(object.className) object holds no parameters")
            }
            return try select(entries.map { (.string($0.key), $0.value) }, info: info, choice: choice, file: file)
        case .dict(let dict):
            // A wrapper entry holding a dict of tensors wins over stray tensors beside it (a `loss`).
            let wrapped = dict.entries.contains { entry in
                guard case .string(let key) = entry.key, rawKeys.contains(key) || emaKeys.contains(key),
                    case .dict(let inner) = entry.value
                else { return false }
                return holdsTensors(inner)
            }
            if !wrapped && holdsTensors(dict) {
                return try select(dict.entries, info: info, choice: choice, file: file)
            }
            return try unwrap(dict, info: info, choice: choice, file: file)
        default:
            throw FormatError(.unsupported, file: file, "the pickle holds a \(root.kindName), not a state dict")
        }
    }

    /// A training dict: the weights under one of the usual keys, the rest kept or skipped.
    private static func unwrap(
        _ dict: PickleDict, info: ContainerInfo, choice: WeightsChoice?, file: String
    ) throws(FormatError) -> Resolved {
        var info = info
        var top: [(name: String, value: PickleValue)] = []
        for (key, value) in dict.entries { if case .string(let name) = key { top.append((name, value)) } }
        func weights(_ keys: [String]) -> (key: String, dict: PickleDict)? {
            for key in keys {
                if let entry = top.first(where: { $0.name == key }), case .dict(let inner) = entry.value,
                    holdsTensors(inner)
                {
                    return (key, inner)
                }
            }
            return nil
        }
        let raw = weights(rawKeys)
        let ema = weights(emaKeys)
        guard let chosen = raw ?? ema else {
            let names = top.prefix(12).map(\.name).joined(separator: ", ")
            throw FormatError(
                .unsupported, file: file,
                "the pickle holds no state dict of tensors (its entries: \(names)\(top.count > 12 ? ", …" : ""))")
        }
        var taken = chosen
        if let raw, let ema {
            let weights = try WeightKeys.choose(hasRaw: true, hasEMA: true, choice: choice, file: file)
            taken = weights == .raw ? raw : ema
            info.otherWeights = weights == .raw ? .ema : .raw
            info.weightsSource = "the \"\(taken.key)\" entry"
        }
        let lightning = top.first { $0.name == "pytorch-lightning_version" || $0.name == "lightning_version" }
        if let lightning {
            if case .string(let version) = lightning.value {
                info.kind = .lightning(version: version)
            } else {
                info.kind = .lightning(version: "unknown")
            }
        } else if taken.key == "network_weights" || top.contains(where: { $0.name == "network_weights" }),
            top.contains(where: { $0.name == "init_args" || $0.name == "trainer_name" })
        {
            info.kind = .nnUNet
        } else {
            info.kind = .trainingDict(key: taken.key)
        }
        // A raw entry alone may hold `ema.` keys itself; an EMA entry alone is the only copy.
        let split = ema == nil
        var resolved = try select(
            taken.dict.entries, info: info, choice: split ? choice : nil, file: file,
            stripAttribute: lightning != nil, splitEMA: split)
        if raw == nil {
            resolved.info.weights = try WeightKeys.choose(hasRaw: false, hasEMA: true, choice: choice, file: file)
        }
        let weightEntries: Set<String> = [raw?.key, ema?.key].compactMap { $0 }.reduce(into: []) { $0.insert($1) }
        for (name, value) in top where !weightEntries.contains(name) {
            if let reason = notWeights(name) {
                resolved.skipped.append("\(name): \(reason)")
            } else if let json = json(value, path: name, skipped: &resolved.skipped, depth: 0) {
                resolved.entries[name] = json
            }
        }
        return resolved
    }

    /// Picks the copy of the weights among a state dict's tensor keys and their clean names.
    private static func select(
        _ entries: [(key: PickleValue, value: PickleValue)], info: ContainerInfo, choice: WeightsChoice?, file: String,
        stripAttribute: Bool = false, splitEMA: Bool = true
    ) throws(FormatError) -> Resolved {
        var info = info
        let keys = entries.compactMap { entry -> String? in
            guard case .string(let key) = entry.key, case .tensor = entry.value else { return nil }
            return key
        }
        let selection = try WeightKeys.select(
            keys, choice: choice, stripAttribute: stripAttribute, splitEMA: splitEMA, file: file)
        if splitEMA {
            info.weights = selection.weights
            info.otherWeights = selection.other
            info.weightsSource = selection.source
        } else if let other = info.otherWeights {
            info.weights = other == .ema ? .raw : .ema
        }
        info.removedPrefix = selection.removedPrefix
        return Resolved(stateDict: entries, names: selection.names, info: info)
    }

    private static func holdsTensors(_ dict: PickleDict) -> Bool {
        dict.entries.contains { if case .tensor = $0.value { true } else { false } }
    }

    /// Why a top-level entry is left out without looking inside, for the state of training machinery.
    private static func notWeights(_ name: String) -> String? {
        let lower = name.lowercased()
        if lower.contains("optimizer") { return "optimizer state (not weights)" }
        if lower.contains("scheduler") { return "learning-rate scheduler state (not weights)" }
        if lower.contains("scaler") { return "gradient scaler state (not weights)" }
        return nil
    }

    /// A container entry as JSON: dicts keep the members that convert (the others are listed in
    /// `skipped`), lists convert whole or not at all, small numpy arrays become arrays.
    static func json(_ value: PickleValue, path: String, skipped: inout [String], depth: Int) -> JSONValue? {
        guard depth < 64 else {
            skipped.append("\(path): nests too deep")
            return nil
        }
        switch value {
        case .dict(let dict):
            var object: [String: JSONValue] = [:]
            for (key, item) in dict.entries {
                let name: String
                switch key {
                case .string(let text): name = text
                case .int(let number): name = String(number)
                default:
                    skipped.append("\(path): a key of type \(key.kindName)")
                    continue
                }
                if let converted = json(item, path: "\(path).\(name)", skipped: &skipped, depth: depth + 1) {
                    object[name] = converted
                }
            }
            return .object(object)
        case .list(let list): return array(list.items, path: path, skipped: &skipped, depth: depth)
        case .tuple(let items): return array(items, path: path, skipped: &skipped, depth: depth)
        case .numpyArray(let numpy):
            guard numpy.elementCount <= maximumArrayElements, let elements = numpy.elements() else {
                skipped.append("\(path): a \(value.kindName) (too large or not numbers, not kept)")
                return nil
            }
            var ignored: [String] = []
            let flat = elements.compactMap { json($0, path: path, skipped: &ignored, depth: depth + 1) }
            return nested(flat[...], shape: numpy.shape[...])
        default:
            if let plain = JSONValue(value) { return plain }
            skipped.append("\(path): a \(value.kindName) (not kept)")
            return nil
        }
    }

    private static func array(_ items: [PickleValue], path: String, skipped: inout [String], depth: Int) -> JSONValue? {
        var converted: [JSONValue] = []
        var inner: [String] = []
        for (index, item) in items.enumerated() {
            guard let value = json(item, path: "\(path)[\(index)]", skipped: &inner, depth: depth + 1) else {
                skipped.append("\(path): a list holding a \(item.kindName) (not kept)")
                return nil
            }
            converted.append(value)
        }
        skipped += inner
        return .array(converted)
    }

    /// Flat C-order values as nested arrays of `shape`.
    private static func nested(_ values: ArraySlice<JSONValue>, shape: ArraySlice<Int>) -> JSONValue {
        guard let first = shape.first else { return values.first ?? .null }
        let inner = shape.dropFirst().reduce(1, *)
        return .array(
            (0..<first).map { index in
                let start = values.startIndex + index * inner
                return nested(values[start..<(start + inner)], shape: shape.dropFirst())
            })
    }
}
