import ArgumentParser
import Foundation
import UNetCheckpoint
import UNetFormats
import UNetInference

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a checkpoint on an image array (.npy) and write the network's output.",
        discussion: """
            The input is NCHW (or NHWC with --layout nhwc), float32, float64 or float16; the output \
            is float32 in the same layout: exactly what the source framework's model outputs (logits \
            for milesial and MONAI, after the sigmoid for Keras models that end with one). Images of \
            any size run with --tile (the paper's overlap-tile with mirror padding; the paper used 572).
            """)

    @Argument(help: "The checkpoint (any format convert reads).")
    var checkpoint: String

    @Option(help: "The input array (.npy).")
    var input: String

    @Option(help: "The output array (.npy).")
    var output: String

    @Option(help: "The axis order of both arrays: nchw or nhwc.")
    var layout = "nchw"

    @Option(help: "Run overlapping tiles of this input side (valid networks: the paper's overlap-tile).")
    var tile: Int?

    @Option(help: "With --tile on a same-padding network: pixels discarded on each side of a tile (default tile/4).")
    var halo: Int?

    @Option(help: "A mapping file (JSON) for a custom key layout; see docs/mapping.md.")
    var map: String?

    @OptionGroup var options: CommonOptions

    func validate() throws {
        guard ["nchw", "nhwc"].contains(layout) else { throw ValidationError("--layout must be nchw or nhwc") }
        if let tile, tile < 1 { throw ValidationError("--tile must be positive") }
    }

    func run() throws {
        var model: UNetModel!
        try reportingErrors(options) {
            let mapping = try map.map { try MappingFile(path: $0) }
            model = UNetModel(try CheckpointImporter.read(checkpoint, mapping: mapping).checkpoint)
        }
        do {
            let image = try NumpyArray(contentsOf: input).featureMap(channelsLast: layout == "nhwc")
            let result: FeatureMap
            if let tile {
                let tiler = try OverlapTile(model: model, tile: tile, halo: halo)
                let bar = ProgressBar(total: tiler.tileCount(height: image.height, width: image.width))
                result = try tiler.predict(image) { done, _ in bar.update(done) }
                bar.finish()
            } else {
                result = try model.predict(image)
            }
            let data = NumpyArray(result, channelsLast: layout == "nhwc").encoded()
            try writeOutputFile(data, to: output, options: options)
            printNote("wrote \(output) \(result.shape)")
        } catch let error as InferenceError {
            printError(error.message)
            throw ExitStatus.unreadableInput
        }
    }
}

/// A one-line progress bar on standard error, shown only when it is a terminal.
final class ProgressBar {
    private let total: Int
    private let enabled = isatty(STDERR_FILENO) != 0

    init(total: Int) { self.total = total }

    func update(_ done: Int) {
        guard enabled, total > 1 else { return }
        let width = 30
        let filled = done * width / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data("\rtiles \(bar) \(done)/\(total)".utf8))
    }

    func finish() {
        if enabled, total > 1 { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
