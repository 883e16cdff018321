import ArgumentParser
import Foundation
import UNetCheckpoint
import UNetFormats
import UNetImages
import UNetInference

struct Predict: ParsableCommand {
    /// The most voxels a 3-D network runs on in one pass when no window is given or recorded.
    static let wholeVolumeLimit = 128 * 128 * 128

    static let configuration = CommandConfiguration(
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
        try reportingErrors(options) {
            var model = try UNetModel(checkpoint)
            model.threads = threads ?? model.threads
            let metadata = checkpoint.metadata
            // PNG and unknown files go the image way, which names what they are.
            let kind = input.lowercased().hasSuffix(".npy") ? .npy : try? VolumeFile.kind(of: input)
            if kind == .nifti || kind == .niftiGzip || (kind == .tiff && model.architecture.spatialDims == 3) {
                try runVolume(model, metadata: metadata)
            } else if kind == .npy {
                try runArray(model, metadata: metadata)
            } else {
                try runImage(model, metadata: metadata)
            }
        }
    }

    private func isNIfTI(_ path: String) -> Bool { [.nifti, .niftiGzip].contains(VolumeFile.outputKind(of: path)) }

    /// An array in, as it stands: the whole array, sliding windows (given or recorded) or --tile.
    private func runArray(_ model: UNetModel, metadata: CheckpointMetadata) throws {
        if overlay != nil { try usageError("--overlay needs an image input (.png, .tif), not an array") }
        let image = try NumpyArray(contentsOf: input).featureMap(channelsLast: layout == "nhwc")
        let result: FeatureMap
        if let tile {
            let tiler = try OverlapTile(model: model, tile: tile, halo: halo)
            let bar = ProgressBar(total: tiler.tileCount(height: image.height, width: image.width), unit: "tiles")
            result = try tiler.predict(image) { done, _ in bar.update(done) }
            bar.finish()
        } else if let window = try slidingWindow(model, metadata: metadata) {
            result = try slide(window, over: image)
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
        // nnU-Net's schemes (z-score per image, …) when the checkpoint is nnU-Net's.
        let schemes =
            try normalize == nil
            ? NNUNetSettings(metadata).map {
                try IntensityNormalization.recorded(in: $0, channels: image.channels)
            } : nil
        if let normalize {
            normalization = try Normalization(parsing: normalize)
        } else if let schemes {
            normalization = .identity
            printNote("note: nnU-Net normalisation \(schemes.map(\.description).joined(separator: ", "))")
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
        func prepared(_ page: Int) throws(ImageError) -> FeatureMap {
            var x = normalization.apply(image, page: page)
            if let schemes { try IntensityNormalization.apply(schemes, to: &x) }
            return x
        }

        if let window = try slidingWindow(model, metadata: metadata) {
            printNote("\(input): \(image.summary); normalisation \(normalization)")
            var pages: [Float] = []
            var shape: [Int] = []
            for page in 0..<image.pages {
                let y = try slide(window, over: prepared(page))
                shape = y.shape
                pages += y.values
            }
            let result = FeatureMap(
                batch: image.pages, channels: shape[1], spatial: Array(shape.dropFirst(2)), values: pages)
            return try writeOutputs(result, model: model, image: image)
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
            let x = try prepared(page)
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

    /// The sliding window given by the options or recorded by the checkpoint (nnU-Net's patch
    /// size), its framework's choices said; nil to run otherwise.
    private func slidingWindow(_ model: UNetModel, metadata: CheckpointMetadata) throws -> SlidingWindow? {
        guard tile == nil else { return nil }
        var notes: [String] = []
        let choices = try sliding.choices(dims: model.architecture.spatialDims)
        let window = try SlidingWindow(model: model, metadata: metadata, choices: choices, notes: &notes)
        printNotes(notes)
        return window
    }

    /// The notes of a choice made for the user: warnings as warnings, the rest as notes.
    private func printNotes(_ notes: [String]) {
        for note in notes { note.hasPrefix("warning:") ? printWarning(note) : printNote("note: \(note)") }
    }

    /// Runs sliding windows over `input` with a progress bar.
    private func slide(_ window: SlidingWindow, over input: FeatureMap) throws -> FeatureMap {
        printNote(window.summary(for: input.spatial))
        let bar = ProgressBar(total: input.batch * window.windowCount(for: input.spatial), unit: "windows")
        defer { bar.finish() }
        return try window.predict(input) { done, _ in bar.update(done) }
    }

    /// A volume in (NIfTI, or a TIFF stack for a 3-D network): read in the framework's axis order,
    /// prepared as the framework would (normalisation, nnU-Net's transpose), run whole or with
    /// sliding windows, and written back in the input's kind of file with its geometry.
    private func runVolume(_ model: UNetModel, metadata: CheckpointMetadata) throws {
        if overlay != nil { try usageError("--overlay needs an image input (.png, .tif), not a volume") }
        // A TIFF stack is [pages, rows, columns] as tifffile reads it; NIfTI in the framework's order.
        let tiff = (try? VolumeFile.kind(of: input)) == .tiff
        let order =
            axisOrder.flatMap(VolumeAxisOrder.init(rawValue:))
            ?? (tiff ? .zyx : VolumePreparation.axisOrder(for: metadata))
        let volume = try VolumeFile.read(input, order: order)
        let architecture = model.architecture
        guard volume.channels == architecture.inChannels else {
            throw ImageError(
                .unsupported, file: input,
                "\(volume.channels) channel\(volume.channels == 1 ? "" : "s"); the network takes \(architecture.inChannels)"
            )
        }
        let normalization = try normalize.map { try Normalization(parsing: $0) }
        let prepared = try VolumePreparation(volume, metadata: metadata, normalization: normalization)
        printNote(
            "\(input): \(volume.summary)"
                + (axisOrder == nil && !tiff
                    ? "; \(order.rawValue) as the checkpoint's framework reads it (--axis-order)" : ""))
        printNotes(prepared.notes)
        let output: FeatureMap
        if let window = try slidingWindow(model, metadata: metadata) {
            output = try slide(window, over: prepared.input)
        } else if model.network.outputSize(forInputSize: prepared.input.spatial) != nil,
            prepared.input.spatial.reduce(1, *) <= Self.wholeVolumeLimit
        {
            printNote("whole volume (--window for sliding windows)")
            output = try model.predict(prepared.input)
        } else {
            throw ImageError(
                .unsupported, file: input,
                "\(prepared.input.spatial) is not a valid input size of the network or larger than 128³ voxels; "
                    + "give --window (a valid input size) to slide windows over it")
        }
        let result = prepared.restore(output)
        guard result.spatial == volume.spatial else {
            throw ImageError(
                .unsupported, file: input, "the network's output \(result.spatial) does not cover the volume")
        }
        try writeVolumeOutputs(result, model: model, volume: volume)
    }

    private func writeVolumeOutputs(_ result: FeatureMap, model: UNetModel, volume: Volume) throws {
        let segmentation = Segmentation(model.network)
        let threshold = threshold ?? 0.5
        let wantsMask = output.map { VolumeFile.outputKind(of: $0) != .npy } == true
        let probabilities = (probabilities != nil || wantsMask) ? segmentation.probabilities(result) : nil
        try writing {
            if let output {
                if VolumeFile.outputKind(of: output) == .npy {
                    try AtomicWrite.write(NumpyArray(result).encoded(), to: output)
                    printNote("wrote \(output) \(result.shape)")
                } else {
                    let mask = segmentation.mask(probabilities!, threshold: threshold)
                    try VolumeFile.writeMask(mask, like: volume.geometry, to: output)
                    printNote(
                        "wrote \(output): mask of \(segmentation.describe(threshold: threshold)), "
                            + volume.spatial.map(String.init).joined(separator: "×"))
                }
            }
            if let path = self.probabilities, let probabilities {
                try VolumeFile.writeProbabilities(probabilities, like: volume.geometry, to: path)
                printNote("wrote \(path): probabilities \(probabilities.shape)")
            }
        }
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
        try reportingErrors(options, while: .writing, body)
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
