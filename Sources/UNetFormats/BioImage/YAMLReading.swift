import Foundation
import UNetCheckpoint
import Yams

/// YAML documents (a BioImage Model Zoo `rdf.yaml`) read as JSON values through libyaml (Yams),
/// with limits that keep a hostile document from exhausting the stack or the memory: the text's
/// size, the nesting of flow collections, and the number of values after aliases are expanded.
package enum YAMLReading {
    /// The largest document read.
    package static let sizeLimit = 1 << 20
    /// The deepest nesting of `[`/`{` accepted (counted over the text, quotes included: a
    /// conservative bound on the composer's recursion).
    package static let flowDepthLimit = 64
    /// The most values a document may hold once its aliases are expanded.
    package static let valueLimit = 1 << 20

    /// The document as a JSON value: mappings with string keys become objects, sequences arrays,
    /// scalars numbers, booleans, null or strings as YAML 1.1's core schema resolves them
    /// (timestamps and other tagged scalars stay strings).
    package static func json(_ text: String, file: String) throws(FormatError) -> JSONValue {
        func bad(_ message: String, cause: String? = nil) -> FormatError {
            FormatError(.malformed, file: file, message, cause: cause)
        }
        guard text.utf8.count <= sizeLimit else { throw bad("a YAML document larger than \(sizeLimit) bytes") }
        var depth = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
                depth += 1
                if depth > flowDepthLimit { throw bad("YAML nested deeper than \(flowDepthLimit) levels") }
            } else if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                depth = max(depth - 1, 0)
            }
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw bad("not valid YAML", cause: "\(error)")
        }
        guard let root else { throw bad("an empty YAML document") }
        var budget = valueLimit
        return try convert(root, budget: &budget, depth: 0, file: file)
    }

    private static func convert(_ node: Node, budget: inout Int, depth: Int, file: String) throws(FormatError)
        -> JSONValue
    {
        budget -= 1
        guard budget >= 0 else {
            throw FormatError(.malformed, file: file, "a YAML document with more than \(valueLimit) values")
        }
        guard depth < 512 else { throw FormatError(.malformed, file: file, "YAML nested deeper than 512 levels") }
        switch node {
        case .scalar(let scalar):
            switch node.tag.description {
            case Tag.Name.null.rawValue: return .null
            case Tag.Name.bool.rawValue: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case Tag.Name.int.rawValue: return node.int.map { .number(Double($0)) } ?? .string(scalar.string)
            case Tag.Name.float.rawValue:
                guard let value = node.float, value.isFinite else { return .string(scalar.string) }
                return .number(value)
            default: return .string(scalar.string)
            }
        case .sequence(let sequence):
            var items: [JSONValue] = []
            for item in sequence { items.append(try convert(item, budget: &budget, depth: depth + 1, file: file)) }
            return .array(items)
        case .mapping(let mapping):
            var fields: [String: JSONValue] = [:]
            for (key, value) in mapping {
                guard case .scalar(let name) = key else {
                    throw FormatError(.malformed, file: file, "a YAML mapping with a key that is not a scalar")
                }
                guard fields[name.string] == nil else {
                    throw FormatError(.malformed, file: file, "the YAML key \(name.string) appears twice")
                }
                fields[name.string] = try convert(value, budget: &budget, depth: depth + 1, file: file)
            }
            return .object(fields)
        case .alias:
            throw FormatError(.malformed, file: file, "an unresolved YAML alias")
        }
    }
}
