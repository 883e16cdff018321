import Foundation

extension UNetArchitecture {
    /// The largest architecture file read; a larger file starting with `{` is refused unread.
    public static let jsonFileSizeLimit = 1 << 20

    /// Reads a bare architecture description (the `architecture` JSON of docs/format.md §3) from
    /// a file: schema 2.0's, or schema 1.0's (told by its `out_channels` or `conv` and no
    /// `heads`), migrated to 2.0.
    /// - Returns: the validated architecture, or nil when the file cannot be opened or does not
    ///   start with `{` (it is some other format).
    /// - Throws: ``CheckpointError`` `.notACheckpoint` for a file that is not such a JSON (or is
    ///   too large), `.invalid` for an architecture that breaks the schema.
    public static func readJSONFile(_ path: String) throws -> UNetArchitecture? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 64)) ?? Data()
        let whitespace: [UInt8] = [0x20, 0x09, 0x0A, 0x0D]
        guard head.first(where: { !whitespace.contains($0) }) == UInt8(ascii: "{") else { return nil }
        try handle.seek(toOffset: 0)
        let data = try handle.read(upToCount: jsonFileSizeLimit + 1) ?? Data()
        guard data.count <= jsonFileSizeLimit else {
            throw CheckpointError(.notACheckpoint, file: path, "a JSON file larger than \(jsonFileSizeLimit) bytes")
        }
        let architecture = try decodeJSONFile(data, path: path)
        do {
            try architecture.validate()
        } catch {
            throw CheckpointError(.invalid, file: path, "invalid architecture", problems: error.problems)
        }
        return architecture
    }

    /// Decodes either schema's architecture JSON, a 1.0 one validated and migrated.
    private static func decodeJSONFile(_ data: Data, path: String) throws -> UNetArchitecture {
        let fields = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        let isVersion1 = fields.map { $0["heads"] == nil && ($0["out_channels"] != nil || $0["conv"] != nil) } ?? false
        do {
            guard isVersion1 else { return try JSONDecoder().decode(UNetArchitecture.self, from: data) }
            let description = try JSONDecoder().decode(ArchitectureV1.self, from: data)
            do {
                try description.validate()
            } catch {
                throw CheckpointError(.invalid, file: path, "invalid architecture (1.0)", problems: error.problems)
            }
            return UNetArchitecture(description)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError(
                .notACheckpoint, file: path, "not an architecture JSON (docs/format.md §3)", cause: "\(error)")
        }
    }
}
