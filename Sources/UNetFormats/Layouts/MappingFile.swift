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
        let known: Set<String> = ["description", "layout", "rename", "ignore", "architecture"]
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
