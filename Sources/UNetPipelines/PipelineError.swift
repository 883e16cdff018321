import UNetCheckpoint

/// A request a pipeline cannot carry out as asked (an output the input cannot give, a network
/// that does not reproduce `--expect`): the conditions the pipelines themselves detect. The
/// libraries they call throw their own errors unchanged.
public struct PipelineError: UNetCkptError {
    public let code: ErrorCode
    public let file: String?
    public let message: String

    public init(_ code: ErrorCode, file: String? = nil, _ message: String) {
        self.code = code
        self.file = file
        self.message = message
    }
}
