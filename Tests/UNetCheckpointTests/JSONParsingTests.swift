import Foundation
import TestSupport
import Testing
import UNetCheckpoint

/// `JSONValue(parsing:)` reads what Foundation's JSONDecoder reads, to the same values, and
/// refuses what it refuses, on the project's JSON files and on hand-made edge cases.
@Suite("JSON text parsed into JSONValue")
struct JSONParsingTests {
    static func decoded(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// Every .json file of the fixtures and the docs.
    static let files: [String] = {
        let root = Fixtures.packageRoot
        var found: [String] = []
        for folder in ["fixtures", "docs"] {
            let base = root.appendingPathComponent(folder)
            let walker = FileManager.default.enumerator(atPath: base.path)
            while let name = walker?.nextObject() as? String {
                if name.hasSuffix(".json") { found.append(base.appendingPathComponent(name).path) }
            }
        }
        return found.sorted()
    }()

    @Test("the project's JSON files: the same values as JSONDecoder")
    func projectFiles() throws {
        #expect(Self.files.count > 20)
        for path in Self.files {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let expected = try #require(Self.decoded(text), "\(path)")
            #expect(try JSONValue(parsing: text) == expected, "\(path)")
        }
    }

    static let edgeCases = [
        #"{"a": [1, -2.5e3, 0, -0, 1E+2, 0.125], "b": {"c": null, "d": true, "e": false}}"#,
        #""esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 x""#, #""plain ünïcödé""#, " [ ] ", "{}", "\n\t 42 \r\n",
        #"{"k": 1, "k": 2}"#, "01", "1.", ".5", "-", "+1", "1e", "1e+", "NaN", "Infinity", "1e400", "[1,]", "[1,,]",
        "[,]", "[1 2]",
        #"{"a" 1}"#, #"{"a":1,}"#, #"{,}"#, #"{a:1}"#, "tru", "nul", #""\ud83d""#, #""\ude00""#, #""\x""#, #""\u12G4""#,
        "\"a\u{01}b\"", "\"open", "[", "{", "", "   ", "[1] [2]", "\"\\", "-01", "2.5E-3",
    ]

    @Test("edge cases: accepted and refused as JSONDecoder does, to the same values", arguments: edgeCases)
    func edgeCase(_ text: String) {
        let expected = Self.decoded(text)
        let parsed = try? JSONValue(parsing: text)
        #expect(parsed == expected, "\(text)")
    }

    @Test("nesting deeper than the limit is an error naming it, not a stack overflow")
    func deepNesting() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try JSONValue(parsing: deep) }
        let limit = JSONValue.nestingLimit
        let allowed = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        var value = try JSONValue(parsing: allowed)
        var levels = 0
        while case .array(let inner) = value, let first = inner.first {
            value = first
            levels += 1
        }
        #expect(levels == limit - 1)
    }
}
