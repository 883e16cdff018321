/// Why a foreign file (PyTorch, safetensors, Keras) could not be read or written, naming the file
/// and the key or field concerned.
public struct FormatError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// The file is damaged or breaks its format's rules (truncated, bad offsets, bad header).
        case malformed
        /// The file asks for something we never do (a pickle global outside a state dict's needs).
        case refused
        /// A well-formed file that this version cannot use (unknown format, layout or dtype).
        case unsupported
        /// A file-system failure.
        case io
    }

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

    public var description: String { file.map { "\($0): \(message)" } ?? message }

    /// The same error attributed to `file`.
    func attributed(to file: String) -> FormatError {
        self.file == nil ? FormatError(kind, file: file, message, cause: cause) : self
    }
}
