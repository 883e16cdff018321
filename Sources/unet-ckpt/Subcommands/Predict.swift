import ArgumentParser
import Foundation
import UNetCheckpoint
import UNetFormats
import UNetImages
import UNetInference

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Run a checkpoint on an image (PNG, TIFF) or an array (.npy) and write masks, probabilities or overlays.",
        discussion: """
            Images (PNG 8/16-bit grey or RGB; TIFF single or multi-page, 8/16-bit or float32) are \
            normalised as the checkpoint's metadata records (or --normalize) and run with the \
            overlap-tile strategy where needed, so that every output covers the whole image. Outputs \
            by extension: --output mask.png|mask.tif (class index per pixel) or out.npy (the raw \
            network output), --probabilities probs.tif|probs.npy, --overlay overlay.png|overlay.tif. \
            A multi-page TIFF gives one output page per input page (PNG outputs need a single page).

            Arrays (.npy) are NCHW (or NHWC with --layout nhwc), float32, float64 or float16, and run \
            as they are (--tile for the paper's overlap-tile); --output out.npy is exactly what the \
            source framework's model outputs (logits for milesial and MONAI, after the sigmoid for \
            Keras models that end with one). See docs/inference.md.
            """)

    @Argument(help: "The checkpoint (any format convert reads).")
    var checkpoint: String

    @Option(help: "The input: an image (.png, .tif, .tiff) or an array (.npy).")
    var input: String

    @Option(help: "The mask (.png, .tif, .tiff: class index per pixel) or the raw network output (.npy).")
    var output: String?

    @Option(help: "The class probabilities: float32 TIFF (.tif, .tiff; one page per class and input page) or .npy.")
    var probabilities: String?

    @Option(help: "The mask blended over the input image in a colour per class (.png, .tif, .tiff).")
    var overlay: String?

    @Option(
        help: ArgumentHelp(
            "The input normalisation instead of the checkpoint's: none, or scale=S,mean=M,std=D (e.g. scale=1/255,mean=0.5,std=0.5; per channel mean=0.485:0.456:0.406).",
            valueName: "spec"))
    var normalize: String?

    @Option(help: "For sigmoid heads: a pixel is foreground when its probability is above this (default 0.5).")
    var threshold: Double?

    @Option(help: "The axis order of .npy arrays: nchw or nhwc.")
    var layout = "nchw"

    @Option(help: "Run overlapping tiles of this input side (valid networks: the paper's overlap-tile).")
    var tile: Int?

    @Option(help: "With --tile on a same-padding network: pixels discarded on each side of a tile (default tile/4).")
    var halo: Int?

    @Option(help: "Threads for the forward pass (default: every core).")
    var threads: Int?

    @OptionGroup var reading: ReadingOptions

    @OptionGroup var options: CommonOptions

    func validate() throws {
        guard ["nchw", "nhwc"].contains(layout) else { throw ValidationError("--layout must be nchw or nhwc") }
        if let tile, tile < 1 { throw ValidationError("--tile must be positive") }
        guard output != nil || probabilities != nil || overlay != nil else {
            throw ValidationError("nothing to write: give --output, --probabilities or --overlay")
        }
        if let output, ImageOutput.kind(of: output) == nil {
            throw ValidationError("--output must end in .png, .tif, .tiff (a mask) or .npy (the network output)")
        }
        if let probabilities, ![.tiff, .npy].contains(ImageOutput.kind(of: probabilities)) {
            throw ValidationError("--probabilities must end in .tif, .tiff or .npy")
        }
        if let overlay, ![.png, .tiff].contains(ImageOutput.kind(of: overlay)) {
            throw ValidationError("--overlay must end in .png, .tif or .tiff")
        }
        if let threshold, !(0...1).contains(threshold) { throw ValidationError("--threshold must be within 0…1") }
        if let normalize {
            do { _ = try Normalization(parsing: normalize) } catch { throw ValidationError(error.message) }
        }
    }

    func run() throws {
        var checkpoint: Checkpoint!
        try reportingErrors(options) {
            let imported = try CheckpointImporter.read(
                self.checkpoint, mapping: try reading.mapping(), weights: reading.weights)
            // What the network was taken to be without the file showing it changes the outputs: say it.
            for note in imported.notes where note.hasPrefix("assumption:") { printWarning(note) }
            checkpoint = imported.checkpoint
        }
        do {
            var model = try UNetModel(checkpoint)
            if let threads { model.threads = max(1, threads) }
            if isArray(input) {
                try runArray(model)
            } else {
                try runImage(model, metadata: checkpoint.metadata)
            }
        } catch let error as InferenceError {
            printError(error.message)
            throw ExitStatus.unreadableInput
        } catch let error as ImageError {
            printError(error.description)
            throw error.kind == .write ? ExitStatus.writeFailed : ExitStatus.unreadableInput
        }
    }

    /// `.npy` by extension or by NumPy's magic bytes.
    private func isArray(_ path: String) -> Bool {
        if path.lowercased().hasSuffix(".npy") { return true }
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 6)) == Data([0x93] + Array("NUMPY".utf8))
    }

    /// An array in, as it always was: the whole array or --tile.
    private func runArray(_ model: UNetModel) throws {
        if overlay != nil { try usageError("--overlay needs an image input (.png, .tif), not an array") }
        let image = try NumpyArray(contentsOf: input).featureMap(channelsLast: layout == "nhwc")
        let result: FeatureMap
        if let tile {
            let tiler = try OverlapTile(model: model, tile: tile, halo: halo)
            let bar = ProgressBar(total: tiler.tileCount(height: image.height, width: image.width), unit: "tiles")
            result = try tiler.predict(image) { done, _ in bar.update(done) }
            bar.finish()
        } else {
            result = try model.predict(image)
        }
        if image.batch > 1, let output, ImageOutput.kind(of: output) == .png {
            try usageError("--output \(output): a PNG holds one image and the array has \(image.batch); write a .tif")
        }
        try writeOutputs(result, model: model, image: nil)
    }

    /// An image in: normalise, run (tiled where needed), write what was asked.
    private func runImage(_ model: UNetModel, metadata: CheckpointMetadata) throws {
        let architecture = model.architecture
        let image = try PixelImage(contentsOf: input)
        if image.pages > 1 {
            for (option, path) in [("--output", output), ("--overlay", overlay)] {
                if let path, ImageOutput.kind(of: path) == .png {
                    try usageError(
                        "\(option) \(path): a PNG holds one page and \(input) has \(image.pages); "
                            + "write a .tif (one page per input page)")
                }
            }
        }
        guard image.channels == architecture.inChannels else {
            let kind = image.channels == 3 ? "an RGB image (3 channels)" : "a greyscale image (1 channel)"
            throw ImageError(
                .unsupported, file: input,
                "\(kind); the network takes \(architecture.inChannels) channel\(architecture.inChannels == 1 ? "" : "s")"
            )
        }
        let normalization: Normalization
        if let normalize {
            normalization = try Normalization(parsing: normalize)
        } else if let recorded = metadata.input {
            normalization = Normalization(recorded)
            if image.sampleType != .uint8 && normalization.scale != 1 {
                printNote(
                    "note: the checkpoint's normalisation (\(normalization)) applies to the stored values; "
                        + "this image is \(image.sampleType.label) (--normalize to choose another)")
            }
        } else {
            normalization = .identity
            printNote(
                "note: the checkpoint records no input normalisation; the network sees the raw values (--normalize to set one)"
            )
        }
        if let problem = normalization.problem(channels: image.channels) {
            throw ImageError(.unsupported, file: normalize == nil ? checkpoint : "--normalize", problem)
        }

        let plan: TilePlan
        if let tile {
            plan = .tiled(tile: tile)
        } else if let automatic = TilePlan.automatic(
            for: model.network, metadata: metadata, height: image.height, width: image.width)
        {
            plan = automatic
        } else {
            throw ImageError(.unsupported, file: checkpoint, "the network has no valid input size")
        }
        var tiler: OverlapTile?
        if case .tiled(let side) = plan { tiler = try OverlapTile(model: model, tile: side, halo: halo) }
        let tilesPerPage = tiler?.tileCount(height: image.height, width: image.width) ?? 1
        let how =
            tiler.map {
                "overlap-tile \($0.tile) → \($0.outputTile), \(tilesPerPage) tile\(tilesPerPage == 1 ? "" : "s") per page"
            } ?? "whole image"
        printNote("\(input): \(image.summary); normalisation \(normalization); \(how)")

        let bar = ProgressBar(total: image.pages * tilesPerPage, unit: tiler == nil ? "pages" : "tiles")
        var outputs: [Float] = []
        var shape = (channels: 0, height: 0, width: 0)
        for page in 0..<image.pages {
            let x = normalization.apply(image, page: page)
            let y: FeatureMap
            if let tiler {
                y = try tiler.predict(x) { done, _ in bar.update(page * tilesPerPage + done) }
            } else {
                y = try model.predict(x)
                bar.update(page + 1)
            }
            shape = (y.channels, y.height, y.width)
            outputs += y.values
        }
        bar.finish()
        let result = FeatureMap(
            batch: image.pages, channels: shape.channels, height: shape.height, width: shape.width, values: outputs)
        try writeOutputs(result, model: model, image: image)
    }

    private func writeOutputs(_ result: FeatureMap, model: UNetModel, image: PixelImage?) throws {
        let segmentation = Segmentation(model.network)
        if threshold != nil && segmentation.head == .softmax {
            printWarning("--threshold applies to sigmoid heads; this network's classes are chosen by argmax")
        }
        let threshold = threshold ?? 0.5
        let wantsMask = overlay != nil || output.map { ImageOutput.kind(of: $0) != .npy } == true
        let probabilities =
            (probabilities != nil || wantsMask) ? segmentation.probabilities(result) : nil
        let mask = wantsMask ? segmentation.mask(probabilities!, threshold: threshold) : nil
        try writing {
            if let output {
                if ImageOutput.kind(of: output) == .npy {
                    let data = NumpyArray(result, channelsLast: layout == "nhwc").encoded()
                    try AtomicWrite.write(data, to: output)
                    printNote("wrote \(output) \(result.shape)")
                } else {
                    try ImageOutput.write(mask!.raster, to: output)
                    printNote(
                        "wrote \(output): mask of \(segmentation.describe(threshold: threshold)), "
                            + "\(mask!.width)×\(mask!.height)\(mask!.pages > 1 ? ", \(mask!.pages) pages" : "")")
                }
            }
            if let path = self.probabilities, let probabilities {
                try ImageOutput.writeProbabilities(probabilities, to: path)
                printNote("wrote \(path): probabilities \(probabilities.shape)")
            }
            if let path = overlay, let image, let mask {
                guard mask.height == image.height, mask.width == image.width else {
                    throw ImageError(.unsupported, file: input, "the output does not cover the image")
                }
                try ImageOutput.write(Overlay.render(image, mask), to: path)
                printNote("wrote \(path): overlay")
            }
        }
    }

    /// Runs output writing, turning failures into exit 3 (the destination left as it was).
    private func writing(_ body: () throws -> Void) throws {
        do {
            try reportingErrors(options, exitCode: ExitStatus.forWriting, body)
        } catch let error as ImageError {
            printError(error.description)
            throw ExitStatus.writeFailed
        }
    }

    private func usageError(_ message: String) throws -> Never {
        printError(message)
        throw ExitCode(64)
    }
}

/// A one-line progress bar on standard error, shown only when it is a terminal.
final class ProgressBar {
    private let total: Int
    private let unit: String
    private let enabled = isatty(STDERR_FILENO) != 0

    init(total: Int, unit: String = "tiles") {
        self.total = total
        self.unit = unit
    }

    func update(_ done: Int) {
        guard enabled, total > 1 else { return }
        let width = 30
        let filled = done * width / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data("\r\(unit) \(bar) \(done)/\(total)".utf8))
    }

    func finish() {
        if enabled, total > 1 { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
