import ArgumentParser
import Foundation
import UNetCheckpoint

/// The documented exit codes (README, docs/cli.md, `unet-ckpt --help`) and the one mapping of
/// the libraries' ``ErrorCode``s onto them.
enum ExitStatus {
    static let verificationFailed = ExitCode(1)
    /// `diff`: the two checkpoints differ (as diff(1)).
    static let differ = ExitCode(1)
    static let unreadableInput = ExitCode(2)
    static let writeFailed = ExitCode(3)
    /// Bad command-line usage (EX_USAGE), also a request the input cannot serve.
    static let usage = ExitCode(64)

    /// What a command was doing when the error came, which decides a few codes.
    enum Activity {
        /// Reading and checking its inputs.
        case reading
        /// Writing an output: a file-system failure is a write failure.
        case writing
        /// `diff`: any failure to read either file is exit 2, since exit 1 means "they differ".
        case comparing
    }

    static func code(for error: any UNetCkptError, while activity: Activity = .reading) -> ExitCode {
        switch (error.code, activity) {
        case (.invalid, .comparing), (.checksumMismatch, .comparing), (.behaviourMismatch, .comparing): unreadableInput
        case (.invalid, _), (.checksumMismatch, _), (.behaviourMismatch, _): verificationFailed
        case (.notACheckpoint, _), (.unsupportedVersion, _), (.malformed, _), (.refused, _), (.unsupported, _):
            unreadableInput
        case (.io, .writing), (.writeFailed, _): writeFailed
        case (.io, _): unreadableInput
        case (.invalidArgument, _): usage
        }
    }
}

/// Options every subcommand shares.
struct CommonOptions: ParsableArguments {
    @Flag(name: .long, help: "On errors, print the chain of causes (HDF5's error stack).")
    var verbose = false
}

/// Runs a subcommand's body, printing any error on stderr (one line naming the file, or the list
/// of problems; the causes with `--verbose`) and turning it into the documented exit code.
func reportingErrors(
    _ options: CommonOptions, while activity: ExitStatus.Activity = .reading, _ body: () throws -> Void
)
    throws
{
    do {
        try body()
    } catch let error as any UNetCkptError {
        throw report(error, options, while: activity)
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        // Not one of the libraries' errors (a system error): still one line and exit 2.
        printError("\(error)")
        throw ExitStatus.unreadableInput
    }
}

/// Prints `error` as `reportingErrors` does and returns its exit code.
func report(_ error: any UNetCkptError, _ options: CommonOptions, while activity: ExitStatus.Activity = .reading)
    -> ExitCode
{
    printError(options.verbose ? error.detailedDescription : error.description(listingAtMost: 20))
    return ExitStatus.code(for: error, while: activity)
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
