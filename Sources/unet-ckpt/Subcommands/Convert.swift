import ArgumentParser
import Foundation
import UNetBioImage
import UNetCheckpoint
import UNetFormats
import UNetInference
import UNetONNX
import UNetPipelines

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
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
            if let value, ConversionFormat(name: value) == nil {
                let all = ConversionFormat.names.joined(separator: ", ")
                throw ValidationError("\(flag) must be one of \(all), not \"\(value)\"")
            }
        }
        guard let outputFormat = destination else {
            throw ValidationError("cannot tell the output format from \"\(output)\": use --to or a known extension")
        }
        if outputFormat == .bioImagePackage {
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
        if outputFormat == .onnx || outputFormat == .bioImagePackage {
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

    /// The destination's format: --to's, else the output's extension's.
    private var destination: ConversionFormat? {
        to.flatMap { ConversionFormat(name: $0) } ?? ConversionFormat(outputPath: output)
    }

    func run() throws {
        var request = ConversionRequest(input: input, output: output, destination: destination!)
        request.sourceFormat = from.flatMap { ConversionFormat(name: $0) }
        (request.weights, request.layout) = (reading.weights, layout)
        request.dtype = dtype.flatMap { DType(shortName: $0) }
        request.storage = compress ? .compressed(level: gzipLevel) : .contiguous
        request.schemaVersion = schemaVersion.flatMap(SchemaVersion.init) ?? .current
        request.embedProbe = embedProbe
        if expect.count == 2 {
            request.expectation = .init(input: expect[0], output: expect[1], tolerance: tolerance)
        }
        request.onnx = ONNXExportOptions(opset: opset ?? ONNXExportOptions.defaultOpset, foldBatchNorm: foldBatchnorm)
        if request.destination == .bioImagePackage { request.package = try package.exportOptions() }
        var conversion: Conversion!
        try reportingErrors(options) {
            request.mapping = try reading.mapping()
            conversion = try Conversion(request, notes: printNote)
        }
        try reportingErrors(options, while: .writing) { try conversion.write(notes: printNote) }
        print("wrote \(output) (\(request.destination.name))")
    }
}
