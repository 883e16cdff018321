/// The parts of a checkpoint file that a schema version may change, as read from the file before
/// they are interpreted. Migrations rewrite this document from an older version to the current one.
struct SchemaDocument: Sendable {
    var version: SchemaVersion
    var architecture: JSONValue
    var metadata: JSONValue
    /// The dataset path of each canonical key where it differs from `/tensors/<key as path>`.
    var renamedTensorPaths: [String: String] = [:]
}

/// One step from an older major version to the next.
struct SchemaMigration: Sendable {
    let fromMajor: Int
    /// What the step changes, in one line (shown by `inspect` for migrated files).
    let summary: String
    let apply: @Sendable (inout SchemaDocument, _ file: String) throws -> Void
}

/// Every migration, in one place, each tested against committed files of its older version.
enum SchemaMigrations {
    static let all: [SchemaMigration] = [
        SchemaMigration(
            fromMajor: 1, summary: "schema 1.0's architecture described in 2.0 (same tensors and keys)"
        ) { document, file in
            let v1 = try CheckpointFile.decode(
                ArchitectureV1.self, from: document.architecture, what: "architecture", file: file)
            do throws(ArchitectureError) {
                try v1.validate()
            } catch {
                throw CheckpointError(.invalid, file: file, "the architecture is invalid", problems: error.problems)
            }
            document.architecture = try JSONValue(encoding: UNetArchitecture(v1))
        }
    ]

    /// Brings `document` to the current major version, returning the summaries of the steps applied.
    static func upgrade(_ document: inout SchemaDocument, file: String) throws -> [String] {
        let current = SchemaVersion.current
        if document.version.major > current.major {
            throw CheckpointError(
                .unsupportedVersion, file: file,
                "schema_version \(document.version) is too new: this unet-ckpt (\(UNetCheckpointLibrary.version)) "
                    + "reads schema versions up to \(current.major).x; a newer unet-ckpt is needed")
        }
        var applied: [String] = []
        while document.version.major < current.major {
            guard let step = all.first(where: { $0.fromMajor == document.version.major }) else {
                throw CheckpointError(
                    .unsupportedVersion, file: file,
                    "schema_version \(document.version) is older than any this unet-ckpt has a migration for "
                        + "(it reads \(current.major).x)")
            }
            try step.apply(&document, file)
            document.version = SchemaVersion(major: document.version.major + 1, minor: 0)
            applied.append(step.summary)
        }
        return applied
    }

    /// What writing `checkpoint` as `version` would lose, or why it cannot be written at all.
    /// Empty when the version can hold everything.
    static func lossesWriting(_ checkpoint: Checkpoint, as version: SchemaVersion) throws -> [String] {
        guard SchemaVersion.writable.contains(version) else {
            throw CheckpointError(
                .unsupportedVersion, file: nil,
                "this unet-ckpt writes schema \(SchemaVersion.writable.map(\.description).joined(separator: ", ")), "
                    + "not \(version)")
        }
        guard version.major == 1 else { return [] }
        guard checkpoint.architecture.version1 != nil else {
            throw CheckpointError(
                .unsupportedVersion, file: nil,
                "this network cannot be written as schema 1.0: it uses what only 2.0 describes "
                    + "(\(checkpoint.architecture.featuresBeyondVersion1.joined(separator: ", ")))")
        }
        return []
    }
}
