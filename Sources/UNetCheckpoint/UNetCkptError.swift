/// What kind of failure an error is: the one vocabulary of every library's errors, which the
/// command line maps to its exit codes in one place (docs/cli.md, "Exit codes").
public enum ErrorCode: String, Sendable, CaseIterable {
    /// Not an HDF5 file, or an HDF5 file that is not a unet-ckpt checkpoint.
    case notACheckpoint
    /// A schema version this library cannot read or write.
    case unsupportedVersion
    /// The file breaks the schema: missing or misshapen tensors, bad types, bad JSON.
    case invalid
    /// Stored data no longer matches its checksum.
    case checksumMismatch
    /// A network does not compute what it was checked against (a probe, `--expect`, a round trip).
    case behaviourMismatch
    /// A foreign file is damaged or breaks its format's rules (truncated, bad offsets, bad header).
    case malformed
    /// The file asks for something never done (a pickle global outside a state dict's needs).
    case refused
    /// A well-formed file or request this version cannot serve; the message names the missing feature.
    case unsupported
    /// The caller asked for something impossible (unknown key, wrong tensor set, bad size).
    case invalidArgument
    /// A file-system or HDF5 failure while reading.
    case io
    /// An output could not be written (the destination is left as it was).
    case writeFailed
}

/// The one shape of the errors unet-ckpt's libraries throw: a code, the file concerned, one line
/// saying what went wrong, the individual problems when there are several, and the lower-level
/// cause (HDF5's error stack, a system error) when there is one.
public protocol UNetCkptError: Error, CustomStringConvertible, Sendable {
    var code: ErrorCode { get }
    /// The file concerned, when there is one.
    var file: String? { get }
    /// One line saying what went wrong.
    var message: String { get }
    /// Every individual problem, when there are several (each names its key or field).
    var problems: [String] { get }
    /// The lower-level cause, when there is one.
    var cause: String? { get }
}

extension UNetCkptError {
    public var problems: [String] { [] }
    public var cause: String? { nil }

    /// `file: message`, then the problems one per line.
    public var description: String { describedWith(problems: problems) }

    /// The description followed by the cause, for `--verbose` output.
    public var detailedDescription: String {
        cause.map { "\(description)\n  caused by: \($0)" } ?? description
    }

    /// The description with at most `limit` problems listed and a count of the rest.
    public func description(listingAtMost limit: Int) -> String {
        guard problems.count > limit else { return description }
        return describedWith(problems: Array(problems.prefix(limit)))
            + "\n  … and \(problems.count - limit) more (use --verbose for all)"
    }

    private func describedWith(problems: [String]) -> String {
        var text = file.map { "\($0): \(message)" } ?? message
        if !problems.isEmpty { text += ":\n" + problems.map { "  - \($0)" }.joined(separator: "\n") }
        return text
    }
}
