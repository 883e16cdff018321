/// A schema version, `MAJOR.MINOR` (docs/format.md §8).
public struct SchemaVersion: Comparable, Hashable, Sendable, CustomStringConvertible, Codable {
    public let major: Int
    public let minor: Int

    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `"1.0"`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.count <= 6 && $0.allSatisfy(\.isASCII) }),
            let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0
        else { return nil }
        self.init(major: major, minor: minor)
    }

    /// The version this library writes by default and reads natively.
    public static let current = SchemaVersion(major: 2, minor: 1)

    /// Schema 1.0, still written on request when a network uses nothing 2.0 added.
    public static let version1 = SchemaVersion(major: 1, minor: 0)

    /// Schema 2.0: 2.1 only added optional metadata fields, which a 2.0 reader ignores.
    public static let version2 = SchemaVersion(major: 2, minor: 0)

    /// Every version this library can write.
    public static let writable: [SchemaVersion] = [version1, version2, current]

    /// The newest minor version known of each major version.
    static let newestMinor = [1: 0, 2: 1]

    public var description: String { "\(major).\(minor)" }

    public static func < (a: SchemaVersion, b: SchemaVersion) -> Bool { (a.major, a.minor) < (b.major, b.minor) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let version = SchemaVersion(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "bad version \(text)"))
        }
        self = version
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
