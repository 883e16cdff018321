import ArgumentParser
import Foundation
import UNetCheckpoint
import UNetDrawing
import UNetFormats

struct Draw: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "draw",
        abstract: "Draw the network as the paper's U: an SVG picture of its feature maps and operations.",
        discussion: """
            One box per feature map with its channels and, for the input size, its side; arrows for \
            the convolutions, max-pools, up-sampling, skip connections and the 1×1 head; the parameters \
            of each level and a legend in the family's words. The input is a checkpoint of any format \
            convert reads, or an architecture JSON (docs/format.md §3). Without --input-size: the \
            training tile size of the metadata if valid, else the valid size nearest 572 (valid \
            convolutions) or 256 (same padding). An input size that is not valid for the network is a \
            usage error (exit 64) naming the nearest valid sizes.
            """)

    @Argument(help: "The checkpoint (any format convert reads), or an architecture JSON file.")
    var checkpoint: String

    @Argument(help: "The SVG file to write.")
    var output: String

    @Option(help: "The input size: one side for a square (cubic) input, or every side (H×W, D×H×W; x also works).")
    var inputSize: String?

    @OptionGroup var reading: ReadingOptions

    @OptionGroup var options: CommonOptions

    func validate() throws {
        if let inputSize, Self.sides(inputSize) == nil {
            throw ValidationError("--input-size must be a positive side, or sides joined by × or x")
        }
    }

    /// `572` → [572]; `64x128x128`, `64×128×128` → the sides.
    static func sides(_ text: String) -> [Int]? {
        let parts = text.split(whereSeparator: { $0 == "x" || $0 == "×" }).map { Int($0) }
        guard (1...3).contains(parts.count), parts.allSatisfy({ ($0 ?? 0) >= 1 }) else { return nil }
        return parts.compactMap { $0 }
    }

    func run() throws {
        var network: UNetNetwork!
        var metadata = CheckpointMetadata()
        try reportingErrors(options) { (network, metadata) = try load() }
        let dims = network.architecture.spatialDims
        var asked = inputSize.flatMap(Self.sides)
        if let sides = asked, sides.count == 1 { asked = [Int](repeating: sides[0], count: dims) }
        guard let size = asked ?? FeatureMapPlan.defaultInputSize(for: network, metadata: metadata) else {
            printError("\(checkpoint): the network has no valid input size")
            throw ExitStatus.verificationFailed
        }
        let plan: FeatureMapPlan
        do {
            plan = try FeatureMapPlan(network: network, inputSize: size)
        } catch {
            printError("--input-size \(inputSize ?? UNetDiagram.sizeText(size)): \(error) (\(checkpoint))")
            throw ExitCode.validationFailure
        }
        let name = URL(fileURLWithPath: checkpoint).lastPathComponent
        let svg = UNetDiagram(plan: plan, classes: metadata.classes, source: name).render()
        try writeOutputFile(Data(svg.utf8), to: output, options: options)
        printNote(
            "wrote \(output) (\(UNetDiagram.sizeText(size)) → \(UNetDiagram.sizeText(plan.outputSize)), "
                + "\(plan.maps.count) feature maps)"
        )
    }

    /// The network and metadata: our own files without reading tensor data, architecture
    /// JSON directly, any other format through the importer.
    private func load() throws -> (UNetNetwork, CheckpointMetadata) {
        let (architecture, metadata) = try loadArchitecture()
        do {
            return (try architecture.network(), metadata)
        } catch {
            throw CheckpointError(.invalid, file: checkpoint, "invalid architecture", problems: error.problems)
        }
    }

    private func loadArchitecture() throws -> (UNetArchitecture, CheckpointMetadata) {
        if let json = try UNetArchitecture.readJSONFile(checkpoint) { return (json, CheckpointMetadata()) }
        let format = try CheckpointFormat.detect(ModelFolder.weightsFile(checkpoint))
        if format == .unetH5 {
            let file = try CheckpointFile(path: checkpoint)
            return (file.architecture, file.metadata)
        }
        let imported = try CheckpointImporter.read(
            checkpoint, format: format, mapping: try reading.mapping(), weights: reading.weights)
        for note in imported.notes { printWarning(note) }
        return (imported.checkpoint.architecture, imported.checkpoint.metadata)
    }
}
