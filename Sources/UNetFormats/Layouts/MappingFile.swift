import Foundation
import UNetCheckpoint

/// A declarative description of a custom key layout (docs/mapping.md): rename rules from source
/// keys to canonical keys, keys to ignore, and the architecture fields the weights cannot show.
public struct MappingFile: Sendable {
    public struct Rule: Sendable {
        public let pattern: String
        public let replacement: String
        let expression: NSRegularExpression
    }

    public let description: String?
    /// The layout name recorded in the checkpoint's metadata (default `custom`).
    public let layout: String
    public let rules: [Rule]
    public let ignore: [NSRegularExpression]
    /// Architecture fields (docs/format.md §3) that complete or override the inference.
    public let architecture: [String: JSONValue]
    /// A layout the file otherwise follows (`milesial`, `nnunet`, …): its keys are first stripped
    /// of ``stripPrefixes`` and renamed by ``rules`` into that layout's keys, which it then reads.
    public let base: String?
    /// Prefixes removed from every key that has one, before the rules (with a base layout).
    public let stripPrefixes: [String]
    /// Library arguments that complete or override what a base library layout infers
    /// (docs/layouts.md), e.g. MONAI's `strides`.
    public let arguments: [String: JSONValue]

    static let maximumRules = 10_000

    /// Reads and checks a mapping file; errors name the rule or field at fault.
    public init(path: String) throws(FormatError) {
        let file = try InputFile(path: path)
        guard file.size <= 16 << 20 else {
            throw FormatError(.malformed, file: path, "a mapping file larger than 16 MB")
        }
        let data = Data(try file.read(at: 0, count: file.size))
        try self.init(data: data, path: path)
    }

    public init(data: Data, path: String) throws(FormatError) {
        func bad(_ message: String) -> FormatError { FormatError(.malformed, file: path, "mapping file: \(message)") }
        guard case .object(let root)? = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            throw bad("not a JSON object")
        }
        let known: Set<String> = [
            "description", "layout", "rename", "ignore", "architecture", "base", "strip_prefix", "arguments",
        ]
        if let unknown = root.keys.sorted().first(where: { !known.contains($0) }) {
            throw bad("unknown field \"\(unknown)\" (expected \(known.sorted().joined(separator: ", ")))")
        }
        if case .string(let text)? = root["description"] { description = text } else { description = nil }
        if case .string(let text)? = root["layout"] { layout = text } else { layout = "custom" }
        var rules: [Rule] = []
        if let rename = root["rename"] {
            guard case .array(let items) = rename, items.count <= Self.maximumRules else {
                throw bad("\"rename\" must be a list of at most \(Self.maximumRules) rules")
            }
            for (index, item) in items.enumerated() {
                guard case .object(let rule) = item, case .string(let pattern)? = rule["pattern"],
                    case .string(let replacement)? = rule["replacement"]
                else { throw bad("rename[\(index)] needs a \"pattern\" and a \"replacement\" string") }
                guard let expression = try? NSRegularExpression(pattern: "^(?:\(pattern))$") else {
                    throw bad("rename[\(index)].pattern \"\(pattern)\" is not a valid regular expression")
                }
                rules.append(Rule(pattern: pattern, replacement: replacement, expression: expression))
            }
        }
        self.rules = rules
        var ignore: [NSRegularExpression] = []
        if let list = root["ignore"] {
            guard case .array(let items) = list else { throw bad("\"ignore\" must be a list of patterns") }
            for (index, item) in items.enumerated() {
                guard case .string(let pattern) = item,
                    let expression = try? NSRegularExpression(pattern: "^(?:\(pattern))$")
                else { throw bad("ignore[\(index)] is not a valid regular expression") }
                ignore.append(expression)
            }
        }
        self.ignore = ignore
        if let value = root["architecture"] {
            guard case .object(let fields) = value else { throw bad("\"architecture\" must be an object") }
            architecture = fields
        } else {
            architecture = [:]
        }
        switch root["base"] {
        case nil: base = nil
        case .string(let name)?:
            let names = knownLayouts.map { $0.name } + libraryLayouts.map { $0.name }
            guard names.contains(name) else {
                throw bad("\"base\" \"\(name)\" is not a layout (\(names.joined(separator: ", ")))")
            }
            base = name
        default: throw bad("\"base\" must be a layout name")
        }
        switch root["strip_prefix"] {
        case nil: stripPrefixes = []
        case .string(let prefix)?: stripPrefixes = [prefix]
        case .array(let items)? where items.allSatisfy({ $0.stringValue != nil }):
            stripPrefixes = items.compactMap(\.stringValue)
        default: throw bad("\"strip_prefix\" must be a string or a list of strings")
        }
        if let value = root["arguments"] {
            guard case .object(let fields) = value else { throw bad("\"arguments\" must be an object") }
            arguments = fields
        } else {
            arguments = [:]
        }
        if base == nil, !stripPrefixes.isEmpty || !arguments.isEmpty {
            throw bad("\"strip_prefix\" and \"arguments\" need a \"base\" layout")
        }
        if base != nil, root["layout"] != nil {
            throw bad("\"layout\" names a layout of its own; with a \"base\" the base's name is recorded")
        }
    }

    /// The tensors under the base layout's keys: prefixes stripped, rules applied (keys no rule
    /// matches are kept), ignored keys dropped.
    func rebase(_ source: SourceTensors, notes: inout [String]) -> SourceTensors {
        var stripped = Set<String>()
        func key(_ original: String) -> String? {
            var key = original
            for prefix in stripPrefixes where key.hasPrefix(prefix) {
                key.removeFirst(prefix.count)
                stripped.insert(prefix)
            }
            key = canonicalKey(for: key) ?? key
            return ignores(key) || ignores(original) ? nil : key
        }
        var result = source
        result.tensors = source.tensors.compactMap { entry in key(entry.key).map { ($0, entry.tensor) } }
        result.integers = source.integers.compactMap { entry in key(entry.key).map { ($0, entry.value) } }
        for prefix in stripPrefixes.filter(stripped.contains) {
            notes.append("removed the prefix \"\(prefix)\" (mapping file)")
        }
        return result
    }

    /// The canonical key for a source key: the first rule whose pattern matches the whole key.
    func canonicalKey(for key: String) -> String? {
        let range = NSRange(key.startIndex..., in: key)
        for rule in rules {
            if let match = rule.expression.firstMatch(in: key, range: range) {
                return rule.expression.replacementString(for: match, in: key, offset: 0, template: rule.replacement)
            }
        }
        return nil
    }

    func ignores(_ key: String) -> Bool {
        let range = NSRange(key.startIndex..., in: key)
        return ignore.contains { $0.firstMatch(in: key, range: range) != nil }
    }
}
