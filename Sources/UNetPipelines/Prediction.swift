import UNetCheckpoint
import UNetFormats
import UNetImages
import UNetInference

/// `predict` as a library call: runs a checkpoint's network on an image, a volume or an array
/// (told by the input's kind and the network's dimensions) and writes the outputs asked for,
/// each atomically (docs/inference.md).
///
/// ```swift
/// let checkpoint = try CheckpointImporter.read("model.h5").checkpoint
/// var request = PredictionRequest(input: "cells.png", checkpointName: "model.h5")
/// request.output = "mask.png"
/// try Prediction.run(request, checkpoint: checkpoint, notes: { print($0) })
/// ```
public struct Prediction {
    /// The most voxels a 3-D network runs on in one pass when no window is given or recorded.
    public static let wholeVolumeLimit = 128 * 128 * 128

    private let request: PredictionRequest
    private let model: UNetModel
    private let metadata: CheckpointMetadata
    private let note: (String) -> Void
    private let progress: (PredictionProgress) -> Void

    /// Runs `request` with `checkpoint`'s network.
    /// - Parameters:
    ///   - request: the input, the outputs and how to run.
    ///   - checkpoint: the network and its metadata (normalisation, framework, windows).
    ///   - notes: called with each line for the user (what was read, how it runs, what was
    ///     written); warnings begin with `warning:`.
    ///   - progress: called as tiles, windows or pages are done.
    /// - Returns: the network's output (pages or array items along the batch axis).
    /// - Throws: ``PipelineError`` `.invalidArgument` for outputs the input cannot give;
    ///   `InferenceError` and `ImageError` from running and reading (`ImageError` of kind
    ///   `.write` when an output could not be written); `CheckpointError` from writing a `.npy`.
    @discardableResult
    public static func run(
        _ request: PredictionRequest, checkpoint: Checkpoint, notes: @escaping (String) -> Void = { _ in },
        progress: @escaping (PredictionProgress) -> Void = { _ in }
    ) throws -> FeatureMap {
        var model = try UNetModel(checkpoint)
        model.threads = request.threads ?? model.threads
        let prediction = Prediction(
            request: request, model: model, metadata: checkpoint.metadata, note: notes, progress: progress)
        // PNG and unknown files go the image way, which names what they are.
        let input = request.input
        let kind = input.lowercased().hasSuffix(".npy") ? .npy : try? VolumeFile.kind(of: input)
        if kind == .nifti || kind == .niftiGzip || (kind == .tiff && model.architecture.spatialDims == 3) {
            return try prediction.runVolume()
        } else if kind == .npy {
            return try prediction.runArray()
        }
        return try prediction.runImage()
    }

    private func usage(_ message: String) -> PipelineError { PipelineError(.invalidArgument, message) }

    /// An array in, as it stands: the whole array, sliding windows (given or recorded) or a tile.
    private func runArray() throws -> FeatureMap {
        if request.overlay != nil { throw usage("--overlay needs an image input (.png, .tif), not an array") }
        let image = try NumpyArray(contentsOf: request.input).featureMap(channelsLast: request.channelsLast)
        let result: FeatureMap
        if let tile = request.tile {
            let tiler = try OverlapTile(model: model, tile: tile, halo: request.halo)
            let total = tiler.tileCount(height: image.height, width: image.width)
            result = try tiler.predict(image) { done, _ in report(done, of: total, "tiles") }
        } else if let window = try slidingWindow() {
            result = try slide(window, over: image)
        } else {
            result = try model.predict(image)
        }
        if image.batch > 1, let output = request.output, ImageOutput.kind(of: output) == .png {
            throw usage("--output \(output): a PNG holds one image and the array has \(image.batch); write a .tif")
        }
        try writeOutputs(result, image: nil)
        return result
    }

    /// An image in: normalise, run (tiled where needed), write what was asked.
    private func runImage() throws -> FeatureMap {
        let input = request.input
        let image = try PixelImage(contentsOf: input)
        if image.pages > 1 {
            for (option, path) in [("--output", request.output), ("--overlay", request.overlay)] {
                if let path, ImageOutput.kind(of: path) == .png {
                    throw usage(
                        "\(option) \(path): a PNG holds one page and \(input) has \(image.pages); "
                            + "write a .tif (one page per input page)")
                }
            }
        }
        let channels = model.architecture.inChannels
        guard image.channels == channels else {
            let kind = image.channels == 3 ? "an RGB image (3 channels)" : "a greyscale image (1 channel)"
            throw ImageError(
                .unsupported, file: input, "\(kind); the network takes \(channels) channel\(channels == 1 ? "" : "s")")
        }
        let (normalization, schemes) = try imageNormalization(for: image)
        func prepared(_ page: Int) throws(ImageError) -> FeatureMap {
            var x = normalization.apply(image, page: page)
            if let schemes { try IntensityNormalization.apply(schemes, to: &x) }
            return x
        }

        if let window = try slidingWindow() {
            note("\(input): \(image.summary); normalisation \(normalization)")
            var pages: [Float] = []
            var shape: [Int] = []
            for page in 0..<image.pages {
                let y = try slide(window, over: prepared(page))
                shape = y.shape
                pages += y.values
            }
            let result = FeatureMap(
                batch: image.pages, channels: shape[1], spatial: Array(shape.dropFirst(2)), values: pages)
            try writeOutputs(result, image: image)
            return result
        }
        let plan: TilePlan
        if let tile = request.tile {
            plan = .tiled(tile: tile)
        } else if let automatic = TilePlan.automatic(
            for: model.network, metadata: metadata, height: image.height, width: image.width)
        {
            plan = automatic
        } else {
            throw ImageError(.unsupported, file: request.checkpointName, "the network has no valid input size")
        }
        var tiler: OverlapTile?
        if case .tiled(let side) = plan { tiler = try OverlapTile(model: model, tile: side, halo: request.halo) }
        let tilesPerPage = tiler?.tileCount(height: image.height, width: image.width) ?? 1
        let how =
            tiler.map {
                "overlap-tile \($0.tile) → \($0.outputTile), \(tilesPerPage) tile\(tilesPerPage == 1 ? "" : "s") per page"
            } ?? "whole image"
        note("\(input): \(image.summary); normalisation \(normalization); \(how)")

        let total = image.pages * tilesPerPage
        var outputs: [Float] = []
        var shape = (channels: 0, height: 0, width: 0)
        for page in 0..<image.pages {
            let x = try prepared(page)
            let y: FeatureMap
            if let tiler {
                y = try tiler.predict(x) { done, _ in report(page * tilesPerPage + done, of: total, "tiles") }
            } else {
                y = try model.predict(x)
                report(page + 1, of: total, "pages")
            }
            shape = (y.channels, y.height, y.width)
            outputs += y.values
        }
        let result = FeatureMap(
            batch: image.pages, channels: shape.channels, height: shape.height, width: shape.width, values: outputs)
        try writeOutputs(result, image: image)
        return result
    }

    /// The normalisation an image gets: the request's, nnU-Net's schemes (z-score per image, …)
    /// when the checkpoint is nnU-Net's, or the recorded one; said in a note.
    private func imageNormalization(for image: PixelImage) throws -> (Normalization, [IntensityNormalization]?) {
        let schemes =
            try request.normalization == nil
            ? NNUNetSettings(metadata).map {
                try IntensityNormalization.recorded(in: $0, channels: image.channels)
            } : nil
        let normalization: Normalization
        if let given = request.normalization {
            normalization = given
        } else if let schemes {
            normalization = .identity
            note("note: nnU-Net normalisation \(schemes.map(\.description).joined(separator: ", "))")
        } else if let recorded = metadata.input {
            normalization = Normalization(recorded)
            if image.sampleType != .uint8 && normalization.scale != 1 {
                note(
                    "note: the checkpoint's normalisation (\(normalization)) applies to the stored values; "
                        + "this image is \(image.sampleType.label) (--normalize to choose another)")
            }
        } else {
            normalization = .identity
            note(
                "note: the checkpoint records no input normalisation; the network sees the raw values (--normalize to set one)"
            )
        }
        if let problem = normalization.problem(channels: image.channels) {
            let file = request.normalization == nil ? request.checkpointName : "--normalize"
            throw ImageError(.unsupported, file: file, problem)
        }
        return (normalization, schemes)
    }

    /// The sliding window given by the request or recorded by the checkpoint (nnU-Net's patch
    /// size), its framework's choices said; nil to run otherwise.
    private func slidingWindow() throws -> SlidingWindow? {
        guard request.tile == nil else { return nil }
        var choices = request.sliding
        let dims = model.architecture.spatialDims
        if let sides = choices.window, sides.count == 1 { choices.window = Array(repeating: sides[0], count: dims) }
        var notes: [String] = []
        let window = try SlidingWindow(model: model, metadata: metadata, choices: choices, notes: &notes)
        say(notes)
        return window
    }

    /// The notes of a choice made for the user: warnings as warnings, the rest as notes.
    private func say(_ notes: [String]) {
        for text in notes { note(text.hasPrefix("warning:") ? text : "note: \(text)") }
    }

    private func report(_ done: Int, of total: Int, _ unit: String) {
        progress(PredictionProgress(done: done, total: total, unit: unit))
    }

    /// Runs sliding windows over `input`, reporting each window.
    private func slide(_ window: SlidingWindow, over input: FeatureMap) throws -> FeatureMap {
        note(window.summary(for: input.spatial))
        let total = input.batch * window.windowCount(for: input.spatial)
        return try window.predict(input) { done, _ in report(done, of: total, "windows") }
    }

    /// A volume in (NIfTI, or a TIFF stack for a 3-D network): read in the framework's axis order,
    /// prepared as the framework would (normalisation, nnU-Net's transpose), run whole or with
    /// sliding windows, and written back in the input's kind of file with its geometry.
    private func runVolume() throws -> FeatureMap {
        let input = request.input
        if request.overlay != nil { throw usage("--overlay needs an image input (.png, .tif), not a volume") }
        // A TIFF stack is [pages, rows, columns] as tifffile reads it; NIfTI in the framework's order.
        let tiff = (try? VolumeFile.kind(of: input)) == .tiff
        let order = request.axisOrder ?? (tiff ? .zyx : VolumePreparation.axisOrder(for: metadata))
        let volume = try VolumeFile.read(input, order: order)
        let channels = model.architecture.inChannels
        guard volume.channels == channels else {
            throw ImageError(
                .unsupported, file: input,
                "\(volume.channels) channel\(volume.channels == 1 ? "" : "s"); the network takes \(channels)")
        }
        let prepared = try VolumePreparation(volume, metadata: metadata, normalization: request.normalization)
        note(
            "\(input): \(volume.summary)"
                + (request.axisOrder == nil && !tiff
                    ? "; \(order.rawValue) as the checkpoint's framework reads it (--axis-order)" : ""))
        say(prepared.notes)
        let output: FeatureMap
        if let window = try slidingWindow() {
            output = try slide(window, over: prepared.input)
        } else if model.network.outputSize(forInputSize: prepared.input.spatial) != nil,
            prepared.input.spatial.reduce(1, *) <= Self.wholeVolumeLimit
        {
            note("whole volume (--window for sliding windows)")
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
        try writeVolumeOutputs(result, volume: volume)
        return result
    }

    private func writeVolumeOutputs(_ result: FeatureMap, volume: Volume) throws {
        let segmentation = Segmentation(model.network)
        let threshold = request.threshold ?? 0.5
        let wantsMask = request.output.map { VolumeFile.outputKind(of: $0) != .npy } == true
        let probabilities = (request.probabilities != nil || wantsMask) ? segmentation.probabilities(result) : nil
        try writing {
            if let output = request.output {
                if VolumeFile.outputKind(of: output) == .npy {
                    try writeArray(result, to: output, channelsLast: false)
                } else {
                    let mask = segmentation.mask(probabilities!, threshold: threshold)
                    try VolumeFile.writeMask(mask, like: volume.geometry, to: output)
                    note(
                        "wrote \(output): mask of \(segmentation.describe(threshold: threshold)), "
                            + volume.spatial.map(String.init).joined(separator: "×"))
                }
            }
            if let path = request.probabilities, let probabilities {
                try VolumeFile.writeProbabilities(probabilities, like: volume.geometry, to: path)
                note("wrote \(path): probabilities \(probabilities.shape)")
            }
        }
    }

    private func writeOutputs(_ result: FeatureMap, image: PixelImage?) throws {
        let segmentation = Segmentation(model.network)
        if request.threshold != nil && segmentation.head == .softmax {
            note("warning: --threshold applies to sigmoid heads; this network's classes are chosen by argmax")
        }
        let threshold = request.threshold ?? 0.5
        let wantsMask = request.overlay != nil || request.output.map { ImageOutput.kind(of: $0) != .npy } == true
        let probabilities = (request.probabilities != nil || wantsMask) ? segmentation.probabilities(result) : nil
        let mask = wantsMask ? segmentation.mask(probabilities!, threshold: threshold) : nil
        try writing {
            if let output = request.output {
                if ImageOutput.kind(of: output) == .npy {
                    try writeArray(result, to: output, channelsLast: request.channelsLast)
                } else {
                    try ImageOutput.write(mask!.raster, to: output)
                    note(
                        "wrote \(output): mask of \(segmentation.describe(threshold: threshold)), "
                            + "\(mask!.width)×\(mask!.height)\(mask!.pages > 1 ? ", \(mask!.pages) pages" : "")")
                }
            }
            if let path = request.probabilities, let probabilities {
                try ImageOutput.writeProbabilities(probabilities, to: path)
                note("wrote \(path): probabilities \(probabilities.shape)")
            }
            if let path = request.overlay, let image, let mask {
                guard mask.height == image.height, mask.width == image.width else {
                    throw ImageError(.unsupported, file: request.input, "the output does not cover the image")
                }
                try ImageOutput.write(Overlay.render(image, mask), to: path)
                note("wrote \(path): overlay")
            }
        }
    }

    private func writeArray(_ result: FeatureMap, to path: String, channelsLast: Bool) throws {
        try AtomicWrite.write(NumpyArray(result, channelsLast: channelsLast).encoded(), to: path)
        note("wrote \(path) \(result.shape)")
    }

    /// Runs output writing: an image error there is a failure to write (the destination left
    /// as it was).
    private func writing(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ImageError where error.kind != .writeFailed {
            throw ImageError(.writeFailed, file: error.file, error.message)
        }
    }
}
