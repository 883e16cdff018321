import Foundation

/// A fixture manifest that is missing, does not decode or lists nothing.
public struct ManifestError: Error, CustomStringConvertible {
    public let relative: String
    public let cause: String
    public var description: String { "fixtures/\(relative): \(cause)" }
}

/// Paths to the committed fixtures and the files the generator wrote beside them.
public enum Fixtures {
    /// The package root, found from this source file's location.
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `fixtures/<relative>`.
    public static func path(_ relative: String) -> String {
        packageRoot.appendingPathComponent("fixtures").appendingPathComponent(relative).path
    }

    /// What `fixtures/generate.py` recorded about the tensors of an h5py-written checkpoint.
    public struct Expected: Decodable {
        public struct Entry: Decodable {
            public let key: String
            public let shape: [Int]
            public let dtype: String
            public let layout: String
            public let offset: Int
            public let nbytes: Int
            public let crc32: UInt32
        }
        public let tensors: [Entry]
        public let totalParameters: Int
        /// The raw little-endian bytes of every tensor, concatenated in canonical order.
        public let bytes: Data

        enum CodingKeys: String, CodingKey {
            case tensors
            case totalParameters = "total_parameters"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            tensors = try c.decode([Entry].self, forKey: .tensors)
            totalParameters = try c.decode(Int.self, forKey: .totalParameters)
            bytes = Data()
        }

        init(tensors: [Entry], totalParameters: Int, bytes: Data) {
            self.tensors = tensors
            self.totalParameters = totalParameters
            self.bytes = bytes
        }

        /// The expected bytes of one tensor.
        public func bytes(of entry: Entry) -> Data { bytes.subdata(in: entry.offset..<(entry.offset + entry.nbytes)) }
    }

    /// Loads `fixtures/h5py/<name>.expected.json` and `.expected.bin`.
    public static func expected(_ name: String) throws -> Expected {
        try expected(at: "h5py/\(name).expected.json")
    }

    /// Loads an `….expected.json` (path relative to `fixtures/`) and the `.bin` beside it.
    public static func expected(at relative: String) throws -> Expected {
        let json = try Data(contentsOf: URL(fileURLWithPath: path(relative)))
        let parsed = try JSONDecoder().decode(Expected.self, from: json)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path(String(relative.dropLast("json".count)) + "bin")))
        return Expected(tensors: parsed.tensors, totalParameters: parsed.totalParameters, bytes: bytes)
    }

    /// The whole `….expected.json` as a JSON object, for its optional fields.
    public static func json(at relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(relative)))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    /// One entry of a fixture folder's `index.json`.
    public struct SourceFixture: Decodable, Sendable, CustomStringConvertible {
        public let file: String
        public let format: String
        public let layout: String
        public let expected: String
        public let map: String?
        public var description: String { file }
    }

    /// A committed manifest or index (JSON; `relative` to `fixtures/`), decoded. It throws when
    /// the file is missing or does not decode, so that a parameterised test over it fails
    /// (`@Test(arguments: try …)`) instead of reporting itself skipped.
    public static func manifest<T: Decodable>(_ relative: String, as type: T.Type = T.self) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(contentsOf: URL(fileURLWithPath: path(relative))))
        } catch {
            throw ManifestError(relative: relative, cause: "\(error)")
        }
    }

    /// A manifest's list of entries, which must not be empty.
    public static func entries<T: Decodable>(_ relative: String, as type: [T].Type = [T].self) throws -> [T] {
        let entries = try manifest(relative, as: type)
        guard !entries.isEmpty else { throw ManifestError(relative: relative, cause: "it lists nothing") }
        return entries
    }

    /// The source-format fixtures of `fixtures/<folder>/index.json`.
    public static func sources(_ folder: String) throws -> [SourceFixture] {
        try entries("\(folder)/index.json")
    }

    /// One entry of a hostile folder's `manifest.json`.
    public struct HostileFixture: Decodable, Sendable, CustomStringConvertible {
        public let file: String
        public let expect: String
        public let mustMention: String?
        public let marker: String?
        public var description: String { file }
        enum CodingKeys: String, CodingKey {
            case file, expect, marker
            case mustMention = "must_mention"
        }
    }

    public static func hostile(_ folder: String) throws -> [HostileFixture] {
        try entries("\(folder)/manifest.json")
    }

    /// A real framework's parameter list (`fixtures/frameworks/<name>.json`).
    public struct FrameworkManifest: Decodable {
        public struct Entry: Decodable {
            public let key: String
            public let shape: [Int]
        }
        public let family: String
        public let totalParameters: Int
        public let tensors: [Entry]
        public let shapeConvention: String
        public let arguments: [String: ArgumentValue]

        enum CodingKeys: String, CodingKey {
            case family, tensors, arguments
            case totalParameters = "total_parameters", shapeConvention = "shape_convention"
        }
    }

    /// A constructor argument: a number, a flag or a list of numbers.
    public enum ArgumentValue: Decodable {
        case int(Int), bool(Bool), ints([Int])
        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let value = try? c.decode(Bool.self) {
                self = .bool(value)
            } else if let value = try? c.decode(Int.self) {
                self = .int(value)
            } else {
                self = .ints(try c.decode([Int].self))
            }
        }
        public var int: Int? { if case .int(let v) = self { v } else { nil } }
        public var bool: Bool? { if case .bool(let v) = self { v } else { nil } }
        public var ints: [Int]? { if case .ints(let v) = self { v } else { nil } }
    }

    public static func framework(_ name: String) throws -> FrameworkManifest {
        let json = try Data(contentsOf: URL(fileURLWithPath: path("frameworks/\(name).json")))
        return try JSONDecoder().decode(FrameworkManifest.self, from: json)
    }
}

/// A fresh directory under the system's temporary directory, removed when the value is deinitialised.
public final class TemporaryDirectory {
    public let path: String

    public init() throws {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("unet-ckpt-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }

    /// `<directory>/<name>`.
    public func file(_ name: String) -> String { path + "/" + name }

    /// The names of the files in the directory.
    public func contents() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Copies a file and flips (xor 0xFF) one byte of the copy at `offset`.
public func copyFlippingByte(from source: String, to destination: String, at offset: Int) throws {
    var data = try Data(contentsOf: URL(fileURLWithPath: source))
    data[offset] ^= 0xFF
    try data.write(to: URL(fileURLWithPath: destination))
}

/// `fixtures/diff/manifest.json`: checkpoint pairs whose differences the generator knows.
public struct DiffManifest: Decodable {
    /// What the generator computed (float64, numpy) for one tensor that differs.
    public struct Statistics: Decodable, Sendable {
        public let maxAbs: Double
        public let maxRel: Double?
        public let cosine: Double?
        public let changed: Int
        public let elements: Int
        enum CodingKeys: String, CodingKey {
            case cosine, changed, elements
            case maxAbs = "max_abs", maxRel = "max_rel"
        }
    }

    public struct Pair: Decodable, Sendable, CustomStringConvertible {
        public let name: String
        public let a: String
        public let b: String
        /// Canonical key → statistics, for every tensor whose values differ.
        public let changed: [String: Statistics]
        public let onlyInA: [String]
        public let onlyInB: [String]
        /// Norm layer → [A's, B's] num_batches_tracked, where they differ.
        public let numBatchesTracked: [String: [Int64]]
        /// Metadata fields (dotted paths) that differ.
        public let metadata: [String]
        public var description: String { name }
        enum CodingKeys: String, CodingKey {
            case name, a, b, changed, metadata
            case onlyInA = "only_in_a", onlyInB = "only_in_b", numBatchesTracked = "num_batches_tracked"
        }
    }

    public let base: String
    public let pairs: [Pair]

    public static func load() throws -> DiffManifest {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("diff/manifest.json")))
        return try JSONDecoder().decode(DiffManifest.self, from: data)
    }

    public static func pair(_ name: String) throws -> Pair {
        guard let pair = try load().pairs.first(where: { $0.name == name }) else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return pair
    }

    /// Every pair, for parameterised tests (`arguments: try DiffManifest.allPairs`).
    public static var allPairs: [Pair] { get throws { try load().pairs } }
}
