import ArgumentParser
import Foundation
import UNetBioImage
import UNetCheckpoint
import UNetFormats
import UNetInference
import UNetONNX

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert between unet-ckpt HDF5, PyTorch .pth, safetensors and Keras files, or export ONNX.",
        discussion: """
            The input format is recognised from the content, the output format from the extension \
            (.h5 unet-ckpt, .pth/.pt, .safetensors, .weights.h5, .onnx, .bioimageio.zip); --from and --to \
            override them. An .onnx output is the whole network with the weights (export only; see \
            docs/onnx.md); a .bioimageio.zip a BioImage Model Zoo package (docs/bioimageio.md). \
            The project layout (milesial, MONAI BasicUNet, Keras functional) and the whole \
            architecture are inferred from the keys and shapes; --map gives a mapping file for other \
            layouts. The output is written atomically and INPUT is never modified.
            """)

    @Argument(help: "The checkpoint to read.")
    var input: String

    @Argument(help: "The file to write.")
    var output: String

    @Option(help: "The input format: unet-h5, pytorch, safetensors, keras-h5, keras-weights, keras.")
    var from: String?

    @Option(help: "The output format: unet-h5, pytorch, safetensors, keras-h5, keras-weights, onnx, bioimageio.")
    var to: String?

    @Option(
        help:
            "The key layout of a .pth/.safetensors/Keras output: milesial, monai-basicunet, keras-graph, keras-functional, unet-ckpt."
    )
    var layout: String?

    @OptionGroup var reading: ReadingOptions

    @Option(help: "Store every tensor as f32, f16 or bf16 (rounding to nearest even).")
    var dtype: String?

    @Flag(help: "unet-h5 output: store tensors chunked with the shuffle and gzip filters.")
    var compress = false

    @Option(help: "The gzip level with --compress (1-9).")
    var gzipLevel = 4

    @Option(help: "unet-h5 output: write this schema version (MAJOR.MINOR).")
    var schemaVersion: String?

    @Flag(help: "unet-h5 output: embed a probe (a seeded input and this network's output for it).")
    var embedProbe = false

    @Option(
        help: ArgumentHelp(
            "onnx output: the ONNX operator set version (\(ONNXExportOptions.supportedOpsets.lowerBound)-\(ONNXExportOptions.supportedOpsets.upperBound), default \(ONNXExportOptions.defaultOpset)).",
            valueName: "version"))
    var opset: Int?

    @Flag(help: "onnx output: fold BatchNorm into the convolutions instead of writing BatchNormalization nodes.")
    var foldBatchnorm = false

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp(
            "Your framework's output for an input: run the converted network on INPUT.npy and fail (exit 1, no "
                + "output written) unless it gives OUTPUT.npy within --tolerance; a unet-h5 output keeps the pair "
                + "as its probe.", valueName: "input.npy output.npy"))
    var expect: [String] = []

    @Option(help: "With --expect: the largest allowed difference, relative to the expected output's range.")
    var tolerance = 1e-4

    @OptionGroup(title: "BioImage Model Zoo package") var package: BioImageOptions

    @OptionGroup var options: CommonOptions

    func validate() throws {
        if let dtype, DType(shortName: dtype) == nil {
            throw ValidationError("--dtype must be f32, f16 or bf16, not \"\(dtype)\"")
        }
        for (flag, value) in [("--from", from), ("--to", to)] {
            if let value, CheckpointFormat(rawValue: value) == nil {
                let all = CheckpointFormat.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError("\(flag) must be one of \(all), not \"\(value)\"")
            }
        }
        guard let outputFormat = to.flatMap(CheckpointFormat.init(rawValue:)) ?? CheckpointFormat(outputPath: output)
        else {
            throw ValidationError("cannot tell the output format from \"\(output)\": use --to or a known extension")
        }
        if outputFormat == .bioimageio {
            if layout != nil { throw ValidationError("--layout does not apply to bioimageio output") }
            if schemaVersion != nil || compress || embedProbe {
                throw ValidationError("--schema-version, --compress and --embed-probe apply to unet-h5 output")
            }
            do { _ = try package.exportOptions() } catch let error as BioImageExportError {
                throw ValidationError(error.message)
            }
        } else if package.given {
            throw ValidationError(
                "--name, --description, --author, --license, --cite, --tag and --no-attach-checkpoint apply to "
                    + "bioimageio output only")
        }
        if outputFormat == .onnx || outputFormat == .bioimageio {
            let range = ONNXExportOptions.supportedOpsets
            if let opset, !range.contains(opset) {
                throw ValidationError(
                    "--opset must be within \(range.lowerBound)-\(range.upperBound) (the operator sets this export "
                        + "writes correctly), not \(opset)")
            }
            if layout != nil { throw ValidationError("--layout does not apply to onnx output (canonical keys)") }
        } else if opset != nil || foldBatchnorm {
            throw ValidationError("--opset and --fold-batchnorm apply to onnx and bioimageio output only")
        }
        if let schemaVersion, SchemaVersion(schemaVersion) == nil {
            throw ValidationError("--schema-version must look like 1.0, not \"\(schemaVersion)\"")
        }
        if !(1...9).contains(gzipLevel) { throw ValidationError("--gzip-level must be within 1-9") }
        if !expect.isEmpty && expect.count != 2 {
            throw ValidationError("--expect takes two files: the input .npy and your framework's output .npy")
        }
        if !(tolerance > 0 && tolerance.isFinite) { throw ValidationError("--tolerance must be a positive number") }
        if !expect.isEmpty && embedProbe { throw ValidationError("--expect already embeds its pair as the probe") }
        let inputURL = URL(fileURLWithPath: input).resolvingSymlinksInPath()
        let outputURL = URL(fileURLWithPath: output).resolvingSymlinksInPath()
        if inputURL.path == outputURL.path {
            throw ValidationError("OUTPUT must differ from INPUT: the input is never modified")
        }
    }

    func run() throws {
        let outputFormat = to.flatMap(CheckpointFormat.init(rawValue:)) ?? CheckpointFormat(outputPath: output)!
        var imported: ImportedCheckpoint!
        try reportingErrors(options) {
            let mapping = try reading.mapping()
            // Mapped: tensors go from the source's pages to the output with no copy in between
            // (the output is a new file renamed into place, so the source's pages stay valid).
            imported = try CheckpointImporter.read(
                input, format: from.flatMap(CheckpointFormat.init(rawValue:)), mapping: mapping,
                weights: reading.weights,
                mapFile: true,
                digestLater: true)
        }
        var checkpoint = imported.checkpoint
        for note in imported.notes { printNote(note) }
        printNote(
            "read \(imported.format.rawValue), layout \(imported.layout): \(checkpoint.architecture.descriptionLines[0])"
        )
        if let name = dtype, let target = DType(shortName: name) {
            let converted = checkpoint.converted(to: target)
            let error = ConversionError(from: checkpoint, to: converted)
            printNote(
                "converted to \(target.rawValue): largest absolute error \(Format.number(error.absolute)), "
                    + "largest relative error \(Format.number(error.relative))")
            checkpoint = converted
        }
        if expect.count == 2 {
            do {
                let input = try NumpyArray(contentsOf: expect[0]).featureMap()
                let expected = try NumpyArray(contentsOf: expect[1]).featureMap()
                let match = try ProbeMaker.match(checkpoint, input: input, expected: expected, tolerance: tolerance)
                let measured =
                    "largest absolute difference \(Format.number(match.absolute)), "
                    + "\(Format.number(match.relativeToRange)) of the expected output's range"
                guard match.within else {
                    printError(
                        "the converted network does not compute \(expect[1]) from \(expect[0]): \(measured) "
                            + "(tolerance \(Format.number(tolerance))); nothing was written")
                    throw ExitStatus.verificationFailed
                }
                printNote("the converted network reproduces \(expect[1]): \(measured)")
                if outputFormat == .unetH5 || outputFormat == .bioimageio {
                    checkpoint.probe = Probe(
                        input: Tensor(shape: input.shape, values: input.values),
                        output: Tensor(shape: expected.shape, values: expected.values),
                        relativeTolerance: 0, absoluteTolerance: tolerance * match.range)
                }
            } catch let error as InferenceError {
                printError("--expect: \(error.message)")
                throw ExitStatus.unreadableInput
            }
        }
        if embedProbe {
            guard outputFormat == .unetH5 else { throw ValidationError("--embed-probe needs a unet-h5 output") }
            do {
                checkpoint.probe = try ProbeMaker.probe(for: checkpoint)
                printNote(
                    "embedded a probe: input \(checkpoint.probe!.input.shape), output \(checkpoint.probe!.output.shape)"
                )
            } catch {
                printError("cannot compute the probe: \(error.message)")
                throw ExitStatus.unreadableInput
            }
        }
        // The source's digest, still being computed, is recorded once the tensors are written.
        let writeOptions = WriteOptions(
            storage: compress ? .compressed(level: gzipLevel) : .contiguous,
            schemaVersion: schemaVersion.flatMap(SchemaVersion.init) ?? .current,
            completeMetadata: imported.pendingProvenance)
        try reportingErrors(options, while: .writing) {
            if outputFormat == .bioimageio {
                if let complete = imported.pendingProvenance { checkpoint.metadata = try complete(checkpoint.metadata) }
                var export = try package.exportOptions()
                export.onnx = ONNXExportOptions(
                    opset: opset ?? ONNXExportOptions.defaultOpset, foldBatchNorm: foldBatchnorm, otherHeads: false)
                do {
                    for note in try BioImageExporter.write(checkpoint, to: output, options: export) { printNote(note) }
                } catch let error as BioImageExportError {
                    throw FormatError(.unsupported, file: output, error.message)
                }
            } else if outputFormat == .onnx {
                guard layout == nil else {
                    throw FormatError(
                        .unsupported, file: output,
                        "an ONNX model has no key layout: its initializers use canonical keys")
                }
                do {
                    try ONNXExporter.write(
                        checkpoint, to: output,
                        options: ONNXExportOptions(
                            opset: opset ?? ONNXExportOptions.defaultOpset, foldBatchNorm: foldBatchnorm))
                } catch let error as ONNXExportError {
                    throw FormatError(.unsupported, file: output, error.message)
                }
            } else {
                let notes = try CheckpointExporter.write(
                    checkpoint, to: output, format: outputFormat, layout: layout, options: writeOptions)
                for note in notes { printNote(note) }
            }
        }
        print("wrote \(output) (\(outputFormat.rawValue))")
    }
}

/// The largest absolute and relative change of any value between two checkpoints of one
/// architecture (relative to the original value; a non-finite value converts to itself).
struct ConversionError {
    var absolute = 0.0
    var relative = 0.0

    init(from original: Checkpoint, to converted: Checkpoint) {
        for (key, tensor) in original.tensors {
            let difference = LargestDifference(converted.tensors[key]!.floatValues(), tensor.floatValues())
            absolute = max(absolute, difference.absolute)
            relative = max(relative, difference.relative ?? 0)
        }
    }
}
