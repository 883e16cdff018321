import UNetCheckpoint

/// Why a foreign file (PyTorch, safetensors, Keras) could not be read or written, naming the file
/// and the key or field concerned.
public struct FormatError: UNetCkptError {
    /// What kind of failure: `.malformed` (damaged, breaks its format's rules), `.refused` (asks
    /// for something never done, such as a pickle global outside a state dict's needs),
    /// `.unsupported` (well-formed but beyond this version: format, layout, dtype), `.io`.
    public typealias Kind = ErrorCode

    public let kind: Kind
    public let file: String?
    public let message: String
    public let cause: String?

    public init(_ kind: Kind, file: String?, _ message: String, cause: String? = nil) {
        self.kind = kind
        self.file = file
        self.message = message
        self.cause = cause
    }

    public var code: ErrorCode { kind }

    /// The same error attributed to `file`.
    func attributed(to file: String) -> FormatError {
        self.file == nil ? FormatError(kind, file: file, message, cause: cause) : self
    }
}
