import ArgumentParser
import Foundation
import UNetCheckpoint

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a checkpoint: change dtypes, storage or schema version.",
        discussion: """
            The output is written atomically: an existing OUTPUT is replaced only by a complete new \
            file, and INPUT is never modified.
            """)

    @Argument(help: "The checkpoint to read.")
    var input: String

    @Argument(help: "The file to write (.h5).")
    var output: String

    @Option(help: "Store every tensor as f32, f16 or bf16 (rounding to nearest even).")
    var dtype: String?

    @Flag(help: "Store tensors chunked with the shuffle and gzip filters (smaller, slower to read).")
    var compress = false

    @Option(help: "The gzip level with --compress (1-9).")
    var gzipLevel = 4

    @Option(help: "Write this schema version (MAJOR.MINOR); it is refused if the version would lose anything.")
    var schemaVersion: String?

    @OptionGroup var options: CommonOptions

    func validate() throws {
        if let dtype, DType(shortName: dtype) == nil {
            throw ValidationError("--dtype must be f32, f16 or bf16, not \"\(dtype)\"")
        }
        if let schemaVersion, SchemaVersion(schemaVersion) == nil {
            throw ValidationError("--schema-version must look like 1.0, not \"\(schemaVersion)\"")
        }
        if !(1...9).contains(gzipLevel) { throw ValidationError("--gzip-level must be within 1-9") }
        let inputURL = URL(fileURLWithPath: input).resolvingSymlinksInPath()
        let outputURL = URL(fileURLWithPath: output).resolvingSymlinksInPath()
        if inputURL.path == outputURL.path {
            throw ValidationError("OUTPUT must differ from INPUT: the input is never modified")
        }
    }

    func run() throws {
        var checkpoint: Checkpoint!
        try reportingErrors(options) {
            checkpoint = try CheckpointFile(path: input).read()
        }
        if let name = dtype, let target = DType(shortName: name) {
            let converted = checkpoint.converted(to: target)
            let error = ConversionError(from: checkpoint, to: converted)
            FileHandle.standardError.write(
                Data(
                    """
                    converted to \(target.rawValue): largest absolute error \(Format.number(error.absolute)), \
                    largest relative error \(Format.number(error.relative))\n
                    """.utf8))
            checkpoint = converted
        }
        let writeOptions = WriteOptions(
            storage: compress ? .compressed(level: gzipLevel) : .contiguous,
            schemaVersion: schemaVersion.flatMap(SchemaVersion.init) ?? .current)
        try reportingErrors(options, exitCode: { $0.kind == .io ? ExitStatus.writeFailed : ExitStatus.code(for: $0) }) {
            for loss in try checkpoint.write(to: output, options: writeOptions) { printWarning(loss) }
        }
        print("wrote \(output) (schema \(writeOptions.schemaVersion))")
    }
}

/// The largest absolute and relative change of any value between two checkpoints of one architecture.
struct ConversionError {
    var absolute = 0.0
    var relative = 0.0

    init(from original: Checkpoint, to converted: Checkpoint) {
        for (key, tensor) in original.tensors {
            let before = tensor.floatValues()
            let after = converted.tensors[key]!.floatValues()
            for (a, b) in zip(before, after) where a.isFinite {
                let difference = abs(Double(a) - Double(b))
                absolute = max(absolute, difference)
                if a != 0 { relative = max(relative, difference / abs(Double(a))) }
            }
        }
    }
}
