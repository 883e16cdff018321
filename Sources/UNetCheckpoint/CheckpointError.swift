import HDF5

/// Why a checkpoint could not be read, validated or written. The description names the file,
/// the tensor key where there is one, and what was expected versus found.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// Not an HDF5 file, or an HDF5 file that is not a unet-ckpt checkpoint.
        case notACheckpoint
        /// A schema version this library cannot read or write.
        case unsupportedVersion
        /// The file breaks the schema: missing or misshapen tensors, bad types, bad JSON.
        case invalid
        /// Stored data no longer matches its checksum.
        case checksumMismatch
        /// A file-system or HDF5 failure.
        case io
        /// The caller asked for something impossible (unknown key, wrong tensor set).
        case invalidArgument
    }

    public let kind: Kind
    /// The file concerned, when there is one.
    public let file: String?
    /// One line saying what went wrong.
    public let message: String
    /// Every individual problem, when there are several (each names its key or field).
    public let problems: [String]
    /// The lower-level cause (HDF5's error stack, a system error), when there is one.
    public let cause: String?

    public init(_ kind: Kind, file: String?, _ message: String, problems: [String] = [], cause: String? = nil) {
        self.kind = kind
        self.file = file
        self.message = message
        self.problems = problems
        self.cause = cause
    }

    public var description: String {
        var text = file.map { "\($0): \(message)" } ?? message
        if !problems.isEmpty { text += ":\n" + problems.map { "  - \($0)" }.joined(separator: "\n") }
        return text
    }

    /// The description followed by the cause, for `--verbose` output.
    public var detailedDescription: String {
        cause.map { "\(description)\n  caused by: \($0)" } ?? description
    }

    static func hdf5(_ error: HDF5Error, file: String, _ message: String) -> CheckpointError {
        CheckpointError(.io, file: file, message, cause: error.description)
    }
}

/// Runs `body`, turning HDF5 failures into a ``CheckpointError`` that names the file.
func withHDF5Errors<T>(file: String, _ message: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as HDF5Error {
        throw CheckpointError.hdf5(error, file: file, "\(message()): \(error.operation)")
    }
}
