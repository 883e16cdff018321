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
    let apply: @Sendable (inout SchemaDocument) throws -> Void
}

/// Every migration, in one place. Schema 1.0 is the first published version, so there is no
/// older version to migrate from yet; a future 2.0 adds its `1 → 2` step here together with a
/// committed 1.0 fixture that the tests read through it.
enum SchemaMigrations {
    static let all: [SchemaMigration] = []

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
            try step.apply(&document)
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
        return []
    }
}
