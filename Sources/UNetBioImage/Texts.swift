import Foundation
import UNetCheckpoint

/// The description's words: from the options, else from `metadata.bioimageio` (what a package
/// read earlier said), else defaults made from the checkpoint.
struct Texts {
    let checkpoint: Checkpoint
    let options: BioImageExportOptions
    let kept: JSONValue?

    static let nameCharacters = CharacterSet(
        charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+- ()")

    /// The spec's name rule: 5 to 128 of letters, digits and `_+- ()`.
    func name() throws(BioImageExportError) -> String {
        if let given = options.name ?? kept?["name"]?.stringValue {
            guard (5...128).contains(given.count), given.unicodeScalars.allSatisfy(Self.nameCharacters.contains) else {
                throw BioImageExportError(
                    "the name \"\(given)\" must be 5 to 128 letters, digits, spaces or _+-() (the zoo's rule)")
            }
            return given
        }
        let label = checkpoint.architecture.name ?? checkpoint.metadata.source?.layout ?? "network"
        let cleaned = String(
            String.UnicodeScalarView(label.unicodeScalars.map { Self.nameCharacters.contains($0) ? $0 : "-" }))
        return String("U-Net \(cleaned)".prefix(128))
    }

    func summary() -> String {
        if let text = options.description ?? kept?["description"]?.stringValue { return String(text.prefix(1024)) }
        let architecture = checkpoint.architecture
        let parameters = checkpoint.tensors.values.reduce(0) { $0 + $1.shape.reduce(1, *) }
        var text =
            "A \(architecture.spatialDims)-D U-Net, \(architecture.inChannels) → \(checkpoint.network.outputChannels) "
            + "channels, \(parameters) values in its tensors"
        if let source = checkpoint.metadata.source, let file = source.fileName {
            text += ", converted by unet-ckpt from \(file)"
            if let layout = source.layout { text += " (\(source.format ?? "?"), layout \(layout))" }
        }
        return text + "."
    }

    func authors() -> [YAMLValue] {
        if !options.authors.isEmpty {
            return options.authors.map { person in
                .map([("name", .string(person.name))] + person.fields.map { ($0.0, .string($0.1)) })
            }
        }
        return (kept?["authors"]?.arrayValue ?? []).map(YAMLValue.init)
    }

    func citations() -> [YAMLValue] {
        if options.citations.isEmpty, let cited = kept?["cite"]?.arrayValue, !cited.isEmpty {
            return cited.map(YAMLValue.init)
        }
        let citations = options.citations.isEmpty ? [BioImageExportOptions.Citation.unet] : options.citations
        return citations.map { citation in
            var fields: [(String, YAMLValue)] = [("text", .string(citation.text))]
            if let doi = citation.doi { fields.append(("doi", .string(doi))) }
            if let url = citation.url { fields.append(("url", .string(url))) }
            return .map(fields)
        }
    }

    func license() -> String? { options.license ?? kept?["license"]?.stringValue }

    func tags() -> [String] {
        if !options.tags.isEmpty { return options.tags }
        if let tags = kept?["tags"]?.arrayValue?.compactMap(\.stringValue), !tags.isEmpty { return tags }
        let architecture = checkpoint.architecture
        var tags = ["unet", "\(architecture.spatialDims)d", "segmentation", "onnx", "unet-ckpt"]
        if let library = checkpoint.metadata.source?.library { tags.append(library) }
        return tags
    }

    /// `config.unet_ckpt`: the writer and where the weights came from.
    func provenance() -> YAMLValue {
        var fields: [(String, YAMLValue)] = [("version", .string(UNetCheckpointLibrary.version))]
        if let source = checkpoint.metadata.source {
            var origin: [(String, YAMLValue)] = []
            for (key, value) in [
                ("format", source.format), ("layout", source.layout), ("file_name", source.fileName),
                ("sha256", source.sha256), ("library", source.library), ("class", source.className),
            ] {
                if let value { origin.append((key, .string(value))) }
            }
            if !origin.isEmpty { fields.append(("source", .map(origin))) }
        }
        return .map(fields)
    }
}
