import Foundation
import UNetCheckpoint
import UNetDrawing
import UNetFormats

/// The package's `README.md` (its `documentation`): the network, its sizes, its processing, the
/// files, and a Validation section (which the spec looks for) saying how the test tensors were made.
struct PackageReadme {
    let name: String
    let checkpoint: Checkpoint
    let axes: [PackageAxis]
    let processing: Processing
    let drawing: Drawing
    let includesCheckpoint: Bool
    let opset: Int

    var text: String {
        let architecture = checkpoint.architecture
        let metadata = checkpoint.metadata
        var lines = ["# \(name)", ""]
        lines += ["![The network drawn as a U](\(BioImageNames.cover))", ""]
        lines += ["## The network", "", "```"] + architecture.descriptionLines + ["```", ""]
        lines += ["## Input and output sizes", ""]
        for axis in axes {
            let sides =
                axis.step == 1
                ? "any side from \(axis.minimum)" : "\(axis.minimum) + n·\(axis.step) (n = 0, 1, 2, …)"
            let output =
                axis.offset == 0
                ? "the output side equals the input side"
                : "the output side is the input side \(axis.offset < 0 ? "−" : "+") \(abs(axis.offset)) (valid convolutions)"
            lines.append("- `\(axis.id)`: \(sides); \(output).")
        }
        lines += [
            "",
            "Drawn at \(UNetDiagram.sizeText(drawing.inputSize)) → \(UNetDiagram.sizeText(drawing.outputSize)) in "
                + "[\(BioImageNames.diagram)](\(BioImageNames.diagram)).", "",
        ]
        lines += ["## Processing", ""]
        if processing.preprocessing.isEmpty {
            lines.append("- Input: the network's input as it is (the checkpoint records no normalisation).")
        } else {
            let gains = processing.gains.map { YAMLValue.float($0) }.joined(separator: ", ")
            let offsets = processing.offsets.map { YAMLValue.float($0) }.joined(separator: ", ")
            lines.append(
                "- Input: `scale_linear`, x · gain + offset with gain [\(gains)] and offset [\(offsets)] per channel: "
                    + "the checkpoint's normalisation (x · scale − mean) / std.")
        }
        lines.append("- Output: \(processing.outputDescription).")
        if let classes = metadata.classes { lines.append("- Classes: \(classes.joined(separator: ", ")).") }
        lines.append("")
        lines += ["## Files", ""]
        lines.append("- `\(BioImageNames.onnx)`: the whole network, ONNX operator set \(opset) (unet-ckpt's export).")
        if includesCheckpoint {
            lines.append(
                "- `\(BioImageNames.checkpoint)`: the unet-ckpt checkpoint the weights come from (architecture, "
                    + "metadata, a CRC-32 per tensor); `unet-ckpt convert` reads it back from this package.")
        }
        lines.append("- `\(BioImageNames.testInput)`, `\(BioImageNames.testOutput)`: the test tensors.")
        if let source = metadata.source, let file = source.fileName {
            lines += [
                "",
                "Converted by unet-ckpt \(UNetCheckpointLibrary.version) from `\(file)`"
                    + (source.format.map { " (\($0)" + (source.layout.map { ", layout \($0)" } ?? "") + ")" } ?? "")
                    + (source.sha256.map { ", SHA-256 `\($0)`" } ?? "") + ".",
            ]
        }
        lines += ["", "## Validation", ""]
        lines.append(
            checkpoint.probe != nil
                ? "The test output is the checkpoint's embedded probe output (the network's output for the test "
                    + "input as recorded with the checkpoint), with the post-processing above applied."
                : "The test input is a seeded random network input, and the test output unet-ckpt's forward pass "
                    + "on it, with the post-processing above applied.")
        lines.append(
            "The test input is the raw input whose pre-processing gives that network input. `bioimageio test` "
                + "runs the ONNX weights on it and compares; `unet-ckpt verify` checks the package's files and "
                + "runs its weights on the test input too. No evaluation on held-out data is recorded here.")
        return lines.joined(separator: "\n") + "\n"
    }
}
