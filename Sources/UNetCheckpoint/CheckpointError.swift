import HDF5

/// Why a checkpoint could not be read, validated or written. The description names the file,
/// the tensor key where there is one, and what was expected versus found.
public struct CheckpointError: UNetCkptError {
    /// What kind of failure (``ErrorCode``'s cases: `.notACheckpoint`, `.unsupportedVersion`,
    /// `.invalid`, `.checksumMismatch`, `.io`, `.invalidArgument`, …).
    public typealias Kind = ErrorCode

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

    public var code: ErrorCode { kind }

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
