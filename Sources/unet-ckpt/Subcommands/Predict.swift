import ArgumentParser
import Foundation
import UNetCheckpoint
import UNetFormats
import UNetImages
import UNetInference
import UNetPipelines

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract:
            "Run a checkpoint on an image (PNG, TIFF), a volume (NIfTI, TIFF stack) or an array (.npy) and write masks, probabilities or overlays.",
        discussion: """
            Images (PNG 8/16-bit grey or RGB; TIFF single or multi-page, 8/16-bit or float32) are \
            normalised as the checkpoint's metadata records (or --normalize) and run with the \
            overlap-tile strategy where needed, so that every output covers the whole image. Outputs \
            by extension: --output mask.png|mask.tif (class index per pixel) or out.npy (the raw \
            network output), --probabilities probs.tif|probs.npy, --overlay overlay.png|overlay.tif. \
            A multi-page TIFF gives one output page per input page (PNG outputs need a single page).

            Volumes (NIfTI .nii/.nii.gz; a TIFF page stack or a 3-D .npy for a 3-D network) are read \
            in the axis order of the checkpoint's framework (nnU-Net: z,y,x as SimpleITK; others: \
            i,j,k as nibabel and MONAI; --axis-order), normalised as recorded (nnU-Net's schemes), \
            and run with sliding windows blended by a Gaussian as MONAI and nnU-Net do it (--window, \
            nnU-Net's patch size by default; --overlap, --mirror). Masks and probabilities are \
            written as NIfTI with the input's geometry (or TIFF stacks, or .npy).

            Arrays (.npy) are NCHW (or NHWC with --layout nhwc), float32, float64 or float16, and run \
            as they are (--tile for the paper's overlap-tile); --output out.npy is exactly what the \
            source framework's model outputs (logits for milesial and MONAI, after the sigmoid for \
            Keras models that end with one). See docs/inference.md.
            """)

    @Argument(help: "The checkpoint (any format convert reads).")
    var checkpoint: String

    @Option(help: "The input: an image (.png, .tif, .tiff), a volume (.nii, .nii.gz, a TIFF stack) or an array (.npy).")
    var input: String

    @Option(
        help: "The mask (.png, .tif, .tiff, .nii, .nii.gz: class index per pixel) or the raw network output (.npy).")
    var output: String?

    @Option(
        help:
            "The class probabilities: float32 TIFF (.tif, .tiff; one page per class and input page), NIfTI (.nii, .nii.gz) or .npy."
    )
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

    @OptionGroup(title: "Sliding windows") var sliding: SlidingOptions

    @Option(
        help:
            "The axis order NIfTI volumes are read in: zyx (SimpleITK, nnU-Net) or ijk (nibabel, MONAI); default: the checkpoint's framework."
    )
    var axisOrder: String?

    @Option(help: "Threads for the whole prediction (default: every core).")
    var threads: Int?

    @OptionGroup var reading: ReadingOptions

    @OptionGroup var options: CommonOptions

    func validate() throws {
        guard ["nchw", "nhwc"].contains(layout) else { throw ValidationError("--layout must be nchw or nhwc") }
        if let tile, tile < 1 { throw ValidationError("--tile must be positive") }
        guard output != nil || probabilities != nil || overlay != nil else {
            throw ValidationError("nothing to write: give --output, --probabilities or --overlay")
        }
        if let output, ImageOutput.kind(of: output) == nil, !isNIfTI(output) {
            throw ValidationError(
                "--output must end in .png, .tif, .tiff, .nii, .nii.gz (a mask) or .npy (the network output)")
        }
        if let probabilities, ![.tiff, .npy].contains(ImageOutput.kind(of: probabilities)), !isNIfTI(probabilities) {
            throw ValidationError("--probabilities must end in .tif, .tiff, .nii, .nii.gz or .npy")
        }
        if let axisOrder, VolumeAxisOrder(rawValue: axisOrder) == nil {
            throw ValidationError("--axis-order must be zyx or ijk")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be positive") }
        if tile != nil, sliding.given {
            throw ValidationError("--tile (overlap-tile) and sliding windows exclude each other")
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
        var request = PredictionRequest(input: input, checkpointName: self.checkpoint)
        (request.output, request.probabilities, request.overlay) = (output, probabilities, overlay)
        request.normalization = try normalize.map { try Normalization(parsing: $0) }
        (request.threshold, request.channelsLast) = (threshold, layout == "nhwc")
        (request.tile, request.halo, request.threads) = (tile, halo, threads)
        request.sliding = try sliding.choices()
        request.axisOrder = axisOrder.flatMap(VolumeAxisOrder.init(rawValue:))
        let bars = ProgressBars()
        defer { bars.finish() }
        // Only writing touches checkpoint and format errors here: a file-system failure is a write failure.
        try reportingErrors(options, while: .writing) {
            try Prediction.run(request, checkpoint: checkpoint, notes: printNote, progress: bars.show)
        }
    }

    private func isNIfTI(_ path: String) -> Bool { [.nifti, .niftiGzip].contains(VolumeFile.outputKind(of: path)) }
}

/// The progress bars of one prediction: a new bar for each count the library starts.
final class ProgressBars {
    private var bar: ProgressBar?

    func show(_ progress: PredictionProgress) {
        if bar == nil { bar = ProgressBar(total: progress.total, unit: progress.unit) }
        bar?.update(progress.done)
        if progress.done >= progress.total { finish() }
    }

    func finish() {
        bar?.finish()
        bar = nil
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
