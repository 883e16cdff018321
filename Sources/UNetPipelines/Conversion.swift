import UNetBioImage
import UNetCheckpoint
import UNetFormats
import UNetInference
import UNetONNX

/// What `convert` is asked to do: the input and how to read it, the destination and how to
/// write it, and what to change or check on the way.
public struct ConversionRequest {
    /// Your framework's output for an input (`--expect`): the converted network must compute
    /// `output` from `input` within `tolerance` of the output's range.
    public struct Expectation: Sendable {
        public var input: String
        public var output: String
        public var tolerance: Double

        public init(input: String, output: String, tolerance: Double = 1e-4) {
            self.input = input
            self.output = output
            self.tolerance = tolerance
        }
    }

    public var input: String
    /// Read the input as this format; nil: recognised from the content.
    public var sourceFormat: ConversionFormat?
    /// A mapping file for a key layout no known one describes.
    public var mapping: MappingFile?
    /// Which copy to take from a file holding raw and EMA weights.
    public var weights: WeightsChoice?
    public var output: String
    public var destination: ConversionFormat
    /// The key layout of a `.pth`, `.safetensors` or Keras output; nil: the source's.
    public var layout: String?
    /// Store every tensor in this element type.
    public var dtype: DType?
    /// How a unet-ckpt output stores its tensors.
    public var storage = WriteOptions.Storage.contiguous
    /// The schema version of a unet-ckpt output.
    public var schemaVersion = SchemaVersion.current
    /// Embed a probe (a seeded input and the network's output for it) in a unet-ckpt output.
    public var embedProbe = false
    /// An output the converted network must reproduce before anything is written; a unet-ckpt
    /// or package output keeps the pair as its probe.
    public var expectation: Expectation?
    /// The ONNX export of an ONNX or package output (a package's holds only the first head).
    public var onnx = ONNXExportOptions()
    /// The words of a package output.
    public var package = BioImageExportOptions()

    /// Converts `input` to `output`, the destination told by the output's extension (nil when it
    /// tells none: set `destination` with ``init(input:output:destination:)``).
    public init?(input: String, output: String) {
        guard let destination = ConversionFormat(outputPath: output) else { return nil }
        self.init(input: input, output: output, destination: destination)
    }

    /// Converts `input` to `output` in `destination`'s format.
    public init(input: String, output: String, destination: ConversionFormat) {
        self.input = input
        self.output = output
        self.destination = destination
    }
}

/// `convert` as library calls: ``init(_:notes:)`` reads the input and applies the request's
/// changes and checks, ``write(notes:)`` writes the destination atomically (the source's
/// provenance digest is completed while the tensors are written). ``run(_:notes:)`` does both.
public struct Conversion {
    public let request: ConversionRequest
    /// The input as read.
    public let imported: ImportedCheckpoint
    /// What will be written: the input with the element type changed and the probe set.
    public private(set) var checkpoint: Checkpoint

    /// Reads, converts and checks `request`'s input; nothing is written yet.
    /// - Parameters:
    ///   - request: what to read, change, check and write.
    ///   - notes: called with each line for the user.
    /// - Throws: the reading's `CheckpointError` and `FormatError`; ``PipelineError``
    ///   `.behaviourMismatch` when the network does not reproduce the expectation,
    ///   `.invalidArgument` for a probe on another output than unet-ckpt's, `.unsupported` when
    ///   the expectation's files or the probe cannot be computed.
    public init(_ request: ConversionRequest, notes: (String) -> Void = { _ in }) throws {
        self.request = request
        // Mapped: tensors go from the source's pages to the output with no copy in between
        // (the output is a new file renamed into place, so the source's pages stay valid).
        imported = try CheckpointImporter.read(
            request.input, format: try request.sourceFormat?.readable(request.input), mapping: request.mapping,
            weights: request.weights, mapFile: true, digestLater: true)
        checkpoint = imported.checkpoint
        imported.notes.forEach(notes)
        notes(
            "read \(imported.format.rawValue), layout \(imported.layout): \(checkpoint.architecture.descriptionLines[0])"
        )
        if let target = request.dtype { convert(to: target, notes: notes) }
        if let expectation = request.expectation { try check(expectation, notes: notes) }
        if request.embedProbe { try embedProbe(notes: notes) }
    }

    private mutating func convert(to target: DType, notes: (String) -> Void) {
        let converted = checkpoint.converted(to: target)
        var absolute = 0.0
        var relative = 0.0
        for (key, original) in checkpoint.tensors {
            let difference = TensorDifference(key: key, a: converted.tensors[key]!, b: original)
            absolute = max(absolute, difference.maxAbs)
            relative = max(relative, difference.maxRel ?? 0)
        }
        notes(
            "converted to \(target.rawValue): largest absolute error \(shortNumber(absolute)), "
                + "largest relative error \(shortNumber(relative))")
        checkpoint = converted
    }

    private var keepsProbe: Bool { [.checkpoint(.unetH5), .bioImagePackage].contains(request.destination) }

    private mutating func check(_ expectation: ConversionRequest.Expectation, notes: (String) -> Void) throws {
        let (input, expected, match): (FeatureMap, FeatureMap, ProbeMaker.OutputMatch)
        do {
            input = try NumpyArray(contentsOf: expectation.input).featureMap()
            expected = try NumpyArray(contentsOf: expectation.output).featureMap()
            match = try ProbeMaker.match(
                checkpoint, input: input, expected: expected, tolerance: expectation.tolerance)
        } catch {
            throw PipelineError(.unsupported, "--expect: \(error.message)")
        }
        let measured =
            "largest absolute difference \(shortNumber(match.absolute)), "
            + "\(shortNumber(match.relativeToRange)) of the expected output's range"
        guard match.within else {
            throw PipelineError(
                .behaviourMismatch,
                "the converted network does not compute \(expectation.output) from \(expectation.input): \(measured) "
                    + "(tolerance \(shortNumber(expectation.tolerance))); nothing was written")
        }
        notes("the converted network reproduces \(expectation.output): \(measured)")
        if keepsProbe {
            checkpoint.probe = Probe(
                input: Tensor(shape: input.shape, values: input.values),
                output: Tensor(shape: expected.shape, values: expected.values),
                relativeTolerance: 0, absoluteTolerance: expectation.tolerance * match.range)
        }
    }

    private mutating func embedProbe(notes: (String) -> Void) throws {
        guard request.destination == .checkpoint(.unetH5) else {
            throw PipelineError(.invalidArgument, "--embed-probe needs a unet-h5 output")
        }
        do {
            let probe = try ProbeMaker.probe(for: checkpoint)
            checkpoint.probe = probe
            notes("embedded a probe: input \(probe.input.shape), output \(probe.output.shape)")
        } catch {
            throw PipelineError(.unsupported, "cannot compute the probe: \(error.message)")
        }
    }

    /// Writes the destination atomically (the input is never modified).
    /// - Parameter notes: called with each line for the user.
    /// - Throws: `CheckpointError` and `FormatError` (`.io` when the file system fails; the
    ///   ONNX and package exporters' refusals as `FormatError` `.unsupported`).
    public func write(notes: (String) -> Void = { _ in }) throws {
        let output = request.output
        switch request.destination {
        case .checkpoint(let format):
            // The source's digest, still being computed, is recorded once the tensors are written.
            let options = WriteOptions(
                storage: request.storage, schemaVersion: request.schemaVersion,
                completeMetadata: imported.pendingProvenance)
            try CheckpointExporter.write(
                checkpoint, to: output, format: format, layout: request.layout, options: options
            ).forEach(notes)
        case .onnx:
            do {
                try ONNXExporter.write(checkpoint, to: output, options: request.onnx)
            } catch let error as ONNXExportError {
                throw FormatError(.unsupported, file: output, error.message)
            }
        case .bioImagePackage:
            var options = request.package
            options.onnx = request.onnx
            options.onnx.otherHeads = false
            do {
                try BioImageExporter.write(try completed(), to: output, options: options).forEach(notes)
            } catch let error as BioImageExportError {
                throw FormatError(.unsupported, file: output, error.message)
            }
        }
    }

    /// The checkpoint with its provenance complete, for writers that need it first.
    private func completed() throws -> Checkpoint {
        var checkpoint = checkpoint
        if let complete = imported.pendingProvenance { checkpoint.metadata = try complete(checkpoint.metadata) }
        return checkpoint
    }

    /// Reads, converts, checks and writes `request` (``init(_:notes:)``, then ``write(notes:)``).
    /// - Parameters:
    ///   - request: what to read, change, check and write.
    ///   - notes: called with each line for the user.
    public static func run(_ request: ConversionRequest, notes: (String) -> Void = { _ in }) throws {
        try Conversion(request, notes: notes).write(notes: notes)
    }
}
