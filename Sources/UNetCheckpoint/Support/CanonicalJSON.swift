import Foundation

/// JSON with sorted keys and no escaped slashes, so equal content gives equal bytes: the
/// architecture and metadata attributes, and the headers and metadata of the other formats.
package enum CanonicalJSON {
    package static func string<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
