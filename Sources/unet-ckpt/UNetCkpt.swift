import ArgumentParser
import Foundation
import UNetCheckpoint

@main
struct UNetCkpt: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unet-ckpt",
        abstract: "Inspect, verify, compare, convert and run U-Net checkpoints.",
        discussion: """
            Exit codes: 0 success (for diff: the checkpoints are equal); 1 verification failed (a \
            checksum, the schema, the architecture or the embedded probe does not hold), or for diff: \
            the checkpoints differ; 2 unreadable or unsupported input (also when reading it \
            crashed or hung the HDF5 library, which runs in a supervised child process); 3 the output \
            could not be written; 64 bad command-line usage.
            """,
        version: UNetCheckpointLibrary.version,
        subcommands: [Inspect.self, Verify.self, Diff.self, Convert.self, Predict.self, Draw.self])

    /// Every command that reads a file runs in a supervised child process (see ``Supervisor``), so
    /// that a file that makes a C library fault or loop ends in a clear error instead of a crash or
    /// a hang.
    static func main() {
        if let status = Supervisor.enterMain() { Foundation.exit(status) }
        Supervisor.injectFaultForTests()
        Self.main(nil)
    }
}
