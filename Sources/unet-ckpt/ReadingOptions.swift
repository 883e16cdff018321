import ArgumentParser
import UNetFormats

/// How the subcommands that read a checkpoint of any format interpret it: its key layout and,
/// for files that hold both, which copy of the weights to take.
struct ReadingOptions: ParsableArguments {
    @Option(help: "A mapping file (JSON) for a custom key layout; see docs/mapping.md.")
    var map: String?

    @Option(
        help: ArgumentHelp(
            "Which weights to take from a file holding trained and averaged copies: raw or ema (default raw).",
            discussion: "See docs/containers.md."))
    var weights: WeightsChoice?

    /// The mapping file, read.
    func mapping() throws -> MappingFile? { try map.map { try MappingFile(path: $0) } }
}

extension WeightsChoice: ExpressibleByArgument {}
