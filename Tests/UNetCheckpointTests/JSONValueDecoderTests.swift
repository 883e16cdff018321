import Foundation
import HDF5
import TestSupport
import Testing

@testable import UNetCheckpoint

/// `JSONValue.decode(_:)` gives what `JSONDecoder` gives from the same text: the same values, and
/// an error where it refuses — on every checkpoint and JSON file of the fixtures, and on every
/// one-field damage of real architectures, where the error names the damaged field. (JSONDecoder
/// itself names no path for a number that does not fit, and calls a null flag a type mismatch;
/// these errors name the field, and null as null.)
@Suite("Decoding from a parsed JSONValue")
struct JSONValueDecoderTests {
    /// The outcome of one decode: the value, or the JSON path of the error (`root.a[0].b`).
    enum Outcome<T: Equatable>: Equatable {
        case value(T)
        case failure(String)

        var failed: Bool { if case .failure = self { true } else { false } }
    }

    static func outcome<T: Decodable & Equatable>(_ type: T.Type, _ body: () throws -> T) -> Outcome<T> {
        do {
            return .value(try body())
        } catch let error as DecodingError {
            return .failure(Self.path(of: error))
        } catch {
            return .failure("not a DecodingError: \(error)")
        }
    }

    static func path(of error: DecodingError) -> String {
        let keys: [CodingKey] =
            switch error {
            case .keyNotFound(let key, let context): context.codingPath + [key]
            case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
                context.codingPath
            @unknown default: []
            }
        return Self.text(keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" })
    }

    static func text(_ steps: [String]) -> String { "root" + steps.joined() }

    /// Both decoders on one text; returns the two outcomes (expected, ours).
    static func both<T: Decodable & Equatable>(_ type: T.Type, _ text: String) throws -> (Outcome<T>, Outcome<T>) {
        let parsed = try JSONValue(parsing: text)
        return (
            outcome(type) { try JSONDecoder().decode(type, from: Data(text.utf8)) },
            outcome(type) { try parsed.decode(type) }
        )
    }

    /// The architecture and metadata texts of every checkpoint fixture, and every JSON file.
    static let documents: [(name: String, text: String)] = {
        let root = Fixtures.packageRoot.appendingPathComponent("fixtures")
        var found: [(String, String)] = []
        let walker = FileManager.default.enumerator(atPath: root.path)
        while let name = walker?.nextObject() as? String {
            let path = root.appendingPathComponent(name).path
            if name.hasSuffix(".json"), let text = try? String(contentsOfFile: path, encoding: .utf8) {
                found.append((name, text))
            } else if name.hasSuffix(".h5"), !name.hasPrefix("broken"), !name.hasPrefix("fuzz"),
                let group = try? HDF5File.open(path).root()
            {
                for attribute in ["architecture", "metadata"] {
                    if let text = try? group.stringAttribute(attribute) { found.append(("\(name) \(attribute)", text)) }
                }
            }
        }
        return found.sorted { $0.0 < $1.0 }
    }()

    @Test("every fixture document: the same architecture and metadata as JSONDecoder, or an error where it refuses")
    func fixtureDocuments() throws {
        var architectures = 0
        for (name, text) in Self.documents {
            guard (try? JSONValue(parsing: text)) != nil else { continue }
            let (expected, ours) = try Self.both(UNetArchitecture.self, text)
            #expect(ours.failed == expected.failed, "\(name)")
            if case .value = expected {
                #expect(ours == expected, "\(name)")
                architectures += 1
            }
            let (expectedMetadata, oursMetadata) = try Self.both(CheckpointMetadata.self, text)
            #expect(oursMetadata.failed == expectedMetadata.failed, "\(name)")
            if case .value = expectedMetadata { #expect(oursMetadata == expectedMetadata, "\(name)") }
        }
        // The fixtures hold a dozen checkpoints and architecture files of the current schema.
        #expect(architectures > 10)
    }

    /// Every way of damaging one field: removed, null, a string, a fraction, a flag, an empty
    /// array or object, and an integer out of range.
    static let damages: [JSONValue?] = [
        nil, .null, .string("x"), .number(2.5), .bool(true), .array([]), .object([:]), .number(1e30), .number(-3),
    ]

    /// The same document with the value at `path` replaced (nil: removed).
    static func damaged(_ value: JSONValue, at path: ArraySlice<String>, with replacement: JSONValue?) -> JSONValue? {
        guard let step = path.first else { return replacement }
        switch value {
        case .object(var members):
            guard let member = members[step] else { return value }
            members[step] = damaged(member, at: path.dropFirst(), with: replacement)
            return .object(members)
        case .array(var elements):
            guard let index = Int(step), elements.indices.contains(index) else { return value }
            if let element = damaged(elements[index], at: path.dropFirst(), with: replacement) {
                elements[index] = element
            } else {
                elements.remove(at: index)
            }
            return .array(elements)
        default: return value
        }
    }

    static func paths(of value: JSONValue, below prefix: [String] = []) -> [[String]] {
        switch value {
        case .object(let members):
            return members.keys.sorted().flatMap { [prefix + [$0]] + paths(of: members[$0]!, below: prefix + [$0]) }
        case .array(let elements):
            return elements.indices.flatMap {
                [prefix + ["\($0)"]] + paths(of: elements[$0], below: prefix + ["\($0)"])
            }
        default: return []
        }
    }

    @Test(
        "every one-field damage of real architectures: the same value as JSONDecoder, or an error at the damaged field")
    func damagedArchitectures() throws {
        // The first few architectures of the fixtures that decode.
        let texts = Self.documents.map(\.text).filter { text in
            (try? JSONDecoder().decode(UNetArchitecture.self, from: Data(text.utf8))) != nil
        }
        let samples = Array(Set(texts).sorted().prefix(3))
        #expect(samples.count >= 3)
        var compared = 0
        for text in samples {
            let original = try JSONValue(parsing: text)
            for path in Self.paths(of: original) {
                for replacement in Self.damages {
                    guard let document = Self.damaged(original, at: path[...], with: replacement) else { continue }
                    let encoded = String(decoding: try JSONEncoder().encode(document), as: UTF8.self)
                    let (expected, ours) = try Self.both(UNetArchitecture.self, encoded)
                    let damage = Self.text(path.map { Int($0) == nil ? ".\($0)" : "[\($0)]" })
                    let what = "\(damage) → \(replacement?.compactText ?? "removed")"
                    #expect(ours.failed == expected.failed, "\(what): \(ours) against \(expected)")
                    switch ours {
                    case .value: #expect(ours == expected, "\(what)")
                    case .failure(let at): #expect(at.hasPrefix(damage), "\(what): the error is at \(at)")
                    }
                    compared += 1
                }
            }
        }
        #expect(compared > 500)
    }

    @Test("primitives, optionals, arrays and dictionaries at the edges")
    func primitives() throws {
        struct Sample: Codable, Equatable {
            var int: Int
            var small: UInt8?
            var float: Float
            var names: [String]
            var table: [String: [Int]]
            var numbered: [Int: Bool]?
            var free: JSONValue?
        }
        let texts = [
            #"{"int": 3, "float": 1.5, "names": [], "table": {}}"#,
            #"{"int": 3.0, "small": 255, "float": 3.4e38, "names": ["a"], "table": {"k": [1, 2]}, "numbered": {"2": true}}"#,
            #"{"int": 3, "small": 256, "float": 1, "names": [], "table": {}}"#,
            #"{"int": 3, "small": null, "float": 1e39, "names": [], "table": {}}"#,
            #"{"int": 3, "float": 1, "names": [null], "table": {}}"#,
            #"{"int": 3, "float": 1, "names": [], "table": {"k": [1.5]}}"#,
            #"{"int": 3, "float": 1, "names": [], "table": {}, "numbered": {"x": true}}"#,
            #"{"int": 3, "float": 1, "names": [], "table": {}, "free": {"a": [1, null, "s"]}}"#,
            #"{"int": -9.2e18, "float": 1, "names": [], "table": []}"#,
            #"{"int": true, "float": 1, "names": "a", "table": {}}"#,
            #"[1]"#, "null", #""text""#,
        ]
        for text in texts {
            let (expected, ours) = try Self.both(Sample.self, text)
            #expect(ours.failed == expected.failed, "\(text): \(ours) against \(expected)")
            if case .value = expected { #expect(ours == expected, "\(text)") }
        }
    }
}
