import ArgumentParser
import UNetCheckpoint

@main
struct UNetCkpt: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unet-ckpt",
        abstract: "Inspect, verify and convert U-Net checkpoints.",
        discussion: """
            Exit codes: 0 success; 1 verification failed (a checksum, the schema or the architecture \
            does not hold); 2 unreadable or unsupported input; 3 the output could not be written; \
            64 bad command-line usage.
            """,
        version: UNetCheckpointLibrary.version,
        subcommands: [Inspect.self, Verify.self, Convert.self, Predict.self])
}
