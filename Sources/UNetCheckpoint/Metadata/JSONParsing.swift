/// JSON text (RFC 8259) parsed straight into a ``JSONValue``: one pass over the UTF-8 bytes,
/// nesting limited, without the Codable round of trial decodes (a checkpoint's architecture and
/// metadata are read on every command, so this is on the start-up path of each).
extension JSONValue {
    /// The deepest nesting of arrays and objects accepted (as Foundation's decoder).
    public static let nestingLimit = 512

    /// Parses `text`, a whole JSON document (any value, surrounded by whitespace only). Numbers
    /// become `Double`s. As Foundation's JSONDecoder, which read these files before: of repeated
    /// object keys the first one counts, and a comma may end an array or an object.
    public init(parsing text: String) throws(JSONSyntaxError) {
        var text = text
        let parsed = text.withUTF8 { bytes in
            var parser = JSONTextParser(bytes: bytes)
            return Result { () throws(JSONSyntaxError) in try parser.document() }
        }
        self = try parsed.get()
    }
}

/// Why a text is not JSON: what was expected, and the byte offset where it went wrong.
public struct JSONSyntaxError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

private struct JSONTextParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func document() throws(JSONSyntaxError) -> JSONValue {
        let value = try self.value()
        skipWhitespace()
        guard position == bytes.count else { throw failure("text after the JSON value") }
        return value
    }

    private func failure(_ message: String) -> JSONSyntaxError { JSONSyntaxError(message: message, offset: position) }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    private mutating func expect(_ word: StaticString) throws(JSONSyntaxError) {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count,
            (0..<count).allSatisfy({ bytes[position + $0] == word.utf8Start[$0] })
        else { throw failure("expected \(word)") }
        position += count
    }

    private mutating func value() throws(JSONSyntaxError) -> JSONValue {
        skipWhitespace()
        switch current {
        case UInt8(ascii: "{"): return try nested { (parser) throws(JSONSyntaxError) in try parser.object() }
        case UInt8(ascii: "["): return try nested { (parser) throws(JSONSyntaxError) in try parser.array() }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expect("null")
            return .null
        case .some(let byte) where byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte):
            return .number(try number())
        case nil: throw failure("the text ends where a value should be")
        default: throw failure("unexpected character")
        }
    }

    private mutating func nested(_ body: (inout Self) throws(JSONSyntaxError) -> JSONValue) throws(JSONSyntaxError)
        -> JSONValue
    {
        depth += 1
        defer { depth -= 1 }
        guard depth <= JSONValue.nestingLimit else {
            throw failure("arrays and objects nested deeper than \(JSONValue.nestingLimit)")
        }
        position += 1  // the opening bracket
        return try body(&self)
    }

    private mutating func array() throws(JSONSyntaxError) -> JSONValue {
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            elements.append(try value())
            if try closes(UInt8(ascii: "]"), "] in an array") { return .array(elements) }
        }
    }

    /// After an element or member: whether its array or object ends here (after a comma too, as
    /// JSONDecoder allows) or goes on after a comma.
    private mutating func closes(_ close: UInt8, _ what: String) throws(JSONSyntaxError) -> Bool {
        skipWhitespace()
        switch current {
        case UInt8(ascii: ","):
            position += 1
            skipWhitespace()
            guard current == close else { return false }
            position += 1
            return true
        case close:
            position += 1
            return true
        default: throw failure("expected , or \(what)")
        }
    }

    private mutating func object() throws(JSONSyntaxError) -> JSONValue {
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw failure("expected a member name in quotes") }
            let key = try string()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw failure("expected : after a member name") }
            position += 1
            let member = try value()
            if members[key] == nil { members[key] = member }
            if try closes(UInt8(ascii: "}"), "} in an object") { return .object(members) }
        }
    }

    /// A string from its opening quote; escapes decoded, UTF-16 surrogate pairs joined.
    private mutating func string() throws(JSONSyntaxError) -> String {
        position += 1
        let start = position
        // The common case: no escapes, so the bytes are the string.
        while let byte = current, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte >= 0x20 { position += 1 }
        if current == UInt8(ascii: "\"") {
            position += 1
            return try validated(UnsafeBufferPointer(rebasing: bytes[start..<(position - 1)]))
        }
        var scalars = Array(bytes[start..<position])
        while true {
            guard let byte = current else { throw failure("the text ends inside a string") }
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return try scalars.withUnsafeBufferPointer { (buffer) throws(JSONSyntaxError) in try validated(buffer) }
            case UInt8(ascii: "\\"): try escape(into: &scalars)
            case 0..<0x20: throw failure("a control character inside a string")
            default: scalars.append(byte)
            }
        }
    }

    private func validated(_ utf8: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) -> String {
        guard let text = String(validating: utf8, as: UTF8.self) else { throw failure("a string that is not UTF-8") }
        return text
    }

    private mutating func escape(into output: inout [UInt8]) throws(JSONSyntaxError) {
        guard let byte = current else { throw failure("the text ends inside an escape") }
        position += 1
        let simple: UInt8? =
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): byte
            case UInt8(ascii: "b"): 0x08
            case UInt8(ascii: "f"): 0x0C
            case UInt8(ascii: "n"): 0x0A
            case UInt8(ascii: "r"): 0x0D
            case UInt8(ascii: "t"): 0x09
            default: nil
            }
        if let simple {
            output.append(simple)
            return
        }
        guard byte == UInt8(ascii: "u") else { throw failure("an unknown escape \\\(Character(Unicode.Scalar(byte)))") }
        var code = UInt32(try hexQuad())
        if (0xD800..<0xDC00).contains(code) {
            guard current == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u")
            else { throw failure("a high surrogate without its low half") }
            position += 2
            let low = UInt32(try hexQuad())
            guard (0xDC00..<0xE000).contains(low) else { throw failure("a high surrogate without its low half") }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(code) {
            throw failure("a low surrogate without its high half")
        }
        guard let scalar = Unicode.Scalar(code) else { throw failure("an invalid \\u escape") }
        output.append(contentsOf: String(Character(scalar)).utf8)
    }

    private mutating func hexQuad() throws(JSONSyntaxError) -> UInt16 {
        guard position + 4 <= bytes.count else { throw failure("a \\u escape needs four hex digits") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x41...0x46: digit = byte - 0x41 + 10
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: throw failure("a \\u escape needs four hex digits")
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    /// A number by JSON's grammar (no leading zeros, no bare dot, no NaN), read as a `Double`.
    private mutating func number() throws(JSONSyntaxError) -> Double {
        let start = position
        func digits(_ parser: inout Self) -> Int {
            let first = parser.position
            while let byte = parser.current, (0x30...0x39).contains(byte) { parser.position += 1 }
            return parser.position - first
        }
        if current == UInt8(ascii: "-") { position += 1 }
        if current == UInt8(ascii: "0") {
            position += 1
        } else if digits(&self) == 0 {
            throw failure("a number without digits")
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard digits(&self) > 0 else { throw failure("a number with no digits after the point") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard digits(&self) > 0 else { throw failure("a number with no digits in its exponent") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw failure("a number out of range") }
        return value
    }
}
