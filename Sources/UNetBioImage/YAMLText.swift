import Foundation
import UNetCheckpoint

/// A YAML value with its mapping keys in order, written in block style (lists of scalars in flow
/// style) with deterministic text: strings plain when YAML 1.1 and 1.2 both read them back as
/// the same string, else double-quoted with JSON's escapes (a subset of YAML's); floats always
/// with a decimal point, so that every YAML reader resolves them as floats.
public indirect enum YAMLValue: Equatable, Sendable {
    case map([(String, YAMLValue)])
    case list([YAMLValue])
    case string(String)
    case integer(Int)
    case number(Double)
    case bool(Bool)

    public static func == (a: YAMLValue, b: YAMLValue) -> Bool { a.text == b.text }

    /// The document, ending in a newline.
    public var text: String {
        var output = ""
        switch self {
        case .map(let pairs) where !pairs.isEmpty: Self.write(pairs, indent: 0, to: &output)
        case .list(let items) where !items.isEmpty && !Self.isFlow(items): Self.write(items, indent: 0, to: &output)
        default: output = scalarText + "\n"
        }
        return output
    }

    /// A JSON value in YAML (object keys sorted).
    public init(_ json: JSONValue) {
        switch json {
        case .null: self = .string("")
        case .bool(let value): self = .bool(value)
        case .number(let value):
            self = value.rounded() == value && abs(value) < 1e15 ? .integer(Int(value)) : .number(value)
        case .string(let value): self = .string(value)
        case .array(let items): self = .list(items.map(YAMLValue.init))
        case .object(let fields): self = .map(fields.keys.sorted().map { ($0, YAMLValue(fields[$0]!)) })
        }
    }

    private var isScalar: Bool {
        switch self {
        case .map(let pairs): pairs.isEmpty
        case .list(let items): Self.isFlow(items)
        default: true
        }
    }

    private static func isFlow(_ items: [YAMLValue]) -> Bool {
        items.allSatisfy {
            switch $0 {
            case .map, .list: false
            default: true
            }
        }
    }

    /// The value on one line (flow style for empty mappings and lists of scalars).
    private var scalarText: String {
        switch self {
        case .map: "{}"
        case .list(let items): "[" + items.map(\.scalarText).joined(separator: ", ") + "]"
        case .string(let text): Self.quoted(text)
        case .integer(let value): String(value)
        case .number(let value): Self.float(value)
        case .bool(let value): value ? "true" : "false"
        }
    }

    private static func write(_ pairs: [(String, YAMLValue)], indent: Int, to output: inout String) {
        let pad = String(repeating: " ", count: indent)
        for (key, value) in pairs {
            if value.isScalar {
                output += "\(pad)\(quoted(key)): \(value.scalarText)\n"
            } else {
                output += "\(pad)\(quoted(key)):\n"
                switch value {
                case .map(let inner): write(inner, indent: indent + 2, to: &output)
                case .list(let items): write(items, indent: indent + 2, to: &output)
                default: break
                }
            }
        }
    }

    private static func write(_ items: [YAMLValue], indent: Int, to output: inout String) {
        let pad = String(repeating: " ", count: indent)
        for item in items {
            switch item {
            case .map(let pairs) where !pairs.isEmpty:
                // The first pair on the dash's line, the others aligned with it.
                var inner = ""
                write(pairs, indent: indent + 2, to: &inner)
                output += pad + "- " + inner.dropFirst(indent + 2)
            case .list(let inner) where !isFlow(inner):
                output += "\(pad)-\n"
                write(inner, indent: indent + 2, to: &output)
            default:
                output += "\(pad)- \(item.scalarText)\n"
            }
        }
    }

    /// Plain when unambiguous, else JSON-quoted.
    static func quoted(_ text: String) -> String {
        let reserved: Set<String> = [
            "", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n", ".nan", ".inf", "-.inf",
        ]
        let first = text.unicodeScalars.first
        let plain =
            !reserved.contains(text.lowercased())
            && first.map { CharacterSet.letters.contains($0) || $0 == "_" || $0 == "." } == true
            && text.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII
                    && (CharacterSet.alphanumerics.contains(scalar) || "_-./() +".unicodeScalars.contains(scalar))
            }
            && !text.hasSuffix(" ") && Double(text) == nil
        if plain { return text }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? encoder.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }

    /// The shortest text that reads back as the same double, with a decimal point.
    static func float(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? ".nan" : (value < 0 ? "-.inf" : ".inf") }
        var text = "\(value)"
        if !text.contains(".") {
            if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
                text.insert(contentsOf: ".0", at: e)
            } else {
                text += ".0"
            }
        }
        return text
    }
}
