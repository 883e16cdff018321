import ArgumentParser
import Foundation
import UNetCheckpoint
import UNetFormats

/// The documented exit codes (README, `unet-ckpt --help`).
enum ExitStatus {
    static let verificationFailed = ExitCode(1)
    /// `diff`: the two checkpoints differ (as diff(1)).
    static let differ = ExitCode(1)
    static let unreadableInput = ExitCode(2)
    static let writeFailed = ExitCode(3)

    static func code(for error: CheckpointError) -> ExitCode {
        switch error.kind {
        case .checksumMismatch, .invalid: verificationFailed
        case .notACheckpoint, .unsupportedVersion, .invalidArgument: unreadableInput
        case .io: unreadableInput
        }
    }

    /// While writing an output, file-system failures are write failures.
    static func forWriting(_ error: any Error) -> ExitCode {
        switch error {
        case let error as CheckpointError where error.kind == .io: writeFailed
        case let error as FormatError where error.kind == .io: writeFailed
        case let error as CheckpointError: code(for: error)
        default: unreadableInput
        }
    }
}

/// Options every subcommand shares.
struct CommonOptions: ParsableArguments {
    @Flag(name: .long, help: "On errors, print the chain of causes (HDF5's error stack).")
    var verbose = false
}

/// Runs a subcommand's body, printing a checkpoint or format error on stderr (one line, or the
/// list of problems) and turning it into the documented exit code.
func reportingErrors(
    _ options: CommonOptions, exitCode: ((any Error) -> ExitCode)? = nil, _ body: () throws -> Void
) throws {
    do {
        try body()
    } catch let error as CheckpointError {
        printError(options.verbose ? error.detailedDescription : error.limitedDescription)
        throw exitCode?(error) ?? ExitStatus.code(for: error)
    } catch let error as FormatError {
        printError(
            options.verbose ? error.description + (error.cause.map { "\n  caused by: \($0)" } ?? "") : error.description
        )
        throw exitCode?(error) ?? ExitStatus.unreadableInput
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data(("error: " + text + "\n").utf8))
}

func printNote(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

func printWarning(_ text: String) {
    FileHandle.standardError.write(Data(("warning: " + text + "\n").utf8))
}

extension CheckpointError {
    /// The description with at most 20 problems listed.
    var limitedDescription: String {
        let limit = 20
        guard problems.count > limit else { return description }
        let shown = CheckpointError(kind, file: file, message, problems: Array(problems.prefix(limit)))
        return shown.description + "\n  … and \(problems.count - limit) more (use --verbose for all)"
    }
}
