import Foundation
import UNetCheckpoint

extension CheckpointImporter {
    /// A BioImage Model Zoo package read through the weights it holds that unet-ckpt reads
    /// (``BioImagePackage/weightsChoice()``), with the description's name, authors, licence and
    /// citations kept as `metadata.bioimageio`, its fixed input normalisation as `metadata.input`
    /// and its output channel names as the classes, where the weights do not say them already.
    static func readPackage(_ path: String, mapping: MappingFile?, weights: WeightsChoice?) throws
        -> ImportedCheckpoint
    {
        let package = try BioImagePackage(path: path)
        let choice = try package.weightsChoice()
        var imported = try package.withWeightsFile(choice) { file in
            let format = try CheckpointFormat.detect(file)
            try requireFormat(format, for: choice, in: package)
            return try read(
                file, format: format, entries: package.layoutEntries(choice), mapping: mapping, weights: weights,
                mapFile: false, digestLater: false)
        }
        var checkpoint = imported.checkpoint
        var notes = imported.notes
        notes.insert(readingNote(choice, package: package), at: 0)
        if choice.kind != "unet-ckpt" {
            // Provenance: the package, not the temporary copy of its weights.
            var source = checkpoint.metadata.source ?? CheckpointMetadata.Source()
            source.format = CheckpointFormat.bioimageio.rawValue
            source.fileName = URL(fileURLWithPath: package.path).lastPathComponent
            source.sha256 = try FileDigest.sha256(package.path)
            source.container = "BioImage Model Zoo package: \(choice.kind) weights \(choice.source)"
            checkpoint.metadata.source = source
        }
        merge(package, into: &checkpoint.metadata, notes: &notes, weightsOnly: choice.kind != "unet-ckpt")
        imported = ImportedCheckpoint(
            checkpoint: checkpoint, format: .bioimageio, layout: imported.layout, notes: notes,
            container: imported.container, containerEntries: imported.containerEntries)
        return imported
    }

    /// A package's tensors for a comparison (``readContents(_:format:mapping:weights:)``).
    static func readPackageContents(_ path: String, mapping: MappingFile?, weights: WeightsChoice?) throws
        -> (contents: CheckpointContents, format: CheckpointFormat, layout: String)
    {
        let package = try BioImagePackage(path: path)
        let choice = try package.weightsChoice()
        return try package.withWeightsFile(choice) { file in
            let format = try CheckpointFormat.detect(file)
            try requireFormat(format, for: choice, in: package)
            if format == .unetH5 {
                // Read whole: the temporary copy is gone when this returns.
                let contents = CheckpointContents(try CheckpointFile(path: file).read())
                return (contents, .bioimageio, CanonicalLayout.name)
            }
            let read = try readContents(
                file, format: format, entries: package.layoutEntries(choice), mapping: mapping, weights: weights)
            return (read.contents, .bioimageio, read.layout)
        }
    }

    private static func readingNote(_ choice: BioImagePackage.WeightsChoice, package: BioImagePackage) -> String {
        if choice.kind == "unet-ckpt" {
            return "read the unet-ckpt checkpoint \(choice.source) the package attaches (the weights it was made from)"
        }
        var note = "read the \(choice.kind) weights \(choice.source) of the BioImage Model Zoo package"
        if let callable = choice.callable {
            let name = choice.importFrom.map { "\($0).\(callable)" } ?? callable
            note += "; its architecture \(name) is read as data (its constructor arguments), never run"
        }
        return note
    }

    /// The weights file must be of the kind the description says.
    private static func requireFormat(
        _ format: CheckpointFormat, for choice: BioImagePackage.WeightsChoice, in package: BioImagePackage
    ) throws(FormatError) {
        let expected: [CheckpointFormat] =
            switch choice.kind {
            case "unet-ckpt": [.unetH5]
            case "pytorch_state_dict": [.pytorch, .safetensors]
            default: [.kerasH5, .kerasWeights, .keras]
            }
        guard expected.contains(format) else {
            throw FormatError(
                .unsupported, file: package.place,
                "\(choice.source) is a \(format.rawValue) file, not the \(choice.kind) weights the description says")
        }
    }

    /// The description's fields the metadata keeps, where the weights did not bring their own.
    private static func merge(
        _ package: BioImagePackage, into metadata: inout CheckpointMetadata, notes: inout [String], weightsOnly: Bool
    ) {
        metadata.additionalFields["bioimageio"] = package.keptFields
        // unet-ckpt's own checkpoint already says how its input is normalised and what its classes are.
        guard weightsOnly else { return }
        if metadata.input == nil {
            let (normalization, note) = package.inputNormalization()
            metadata.input = normalization
            if let note { notes.append(note) }
        }
        let generic = #/(channel|class)[0-9]+/#
        if metadata.classes == nil, let names = package.outputChannelNames, !names.isEmpty,
            !names.allSatisfy({ $0.wholeMatch(of: generic) != nil })
        {
            metadata.classes = names
        }
    }
}
