import Foundation
import UNetCheckpoint

/// The folders libraries save a model in, and the JSON files beside a weights file that say how
/// the library builds it: an nnU-Net v2 results folder (`plans.json`, `dataset.json`,
/// `fold_N/checkpoint_final.pth`) and a segmentation_models_pytorch `save_pretrained` folder
/// (`config.json`, `model.safetensors`). The JSON is read as data; nothing is imported.
public enum ModelFolder {
    /// Entry names under which the files beside the weights reach the layouts.
    static let nnunetPlans = "plans.json"
    static let nnunetDataset = "dataset.json"
    static let nnunetConfiguration = "nnU-Net configuration"
    static let pretrainedConfig = "config.json"
    /// The constructor arguments a BioImage Model Zoo package gives its architecture.
    static let architectureArguments = "bioimageio architecture kwargs"

    /// The weights file a path names: the path itself, or the checkpoint inside a model folder.
    public static func weightsFile(_ path: String) throws(FormatError) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FormatError(.io, file: path, "no such file")
        }
        return isDirectory.boolValue ? try weightsFile(in: path) : path
    }

    /// The weights file a path names (``weightsFile(_:)``), with the JSON files found beside it.
    static func resolve(_ path: String) throws(FormatError) -> (file: String, entries: [String: JSONValue]) {
        let file = try weightsFile(path)
        return (file, try besideFiles(of: file))
    }

    /// The weights file of a model folder.
    private static func weightsFile(in folder: String) throws(FormatError) -> String {
        let url = URL(fileURLWithPath: folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        // A BioImage Model Zoo package unpacked: its description names the weights.
        if let description = BioImagePackage.descriptionNames.first(where: names.contains) {
            return url.appendingPathComponent(description).path
        }
        for name in ["checkpoint_final.pth", "checkpoint_best.pth", "model.safetensors", "pytorch_model.bin"]
        where names.contains(name) {
            return url.appendingPathComponent(name).path
        }
        let folds = names.filter { $0.hasPrefix("fold_") }.sorted()
        if names.contains(nnunetPlans), !folds.isEmpty {
            let checkpoints = folds.flatMap { fold in
                ["checkpoint_final.pth", "checkpoint_best.pth"].map { "\(fold)/\($0)" }
            }.filter { FileManager.default.fileExists(atPath: url.appendingPathComponent($0).path) }
            let finals = checkpoints.filter { $0.hasSuffix("checkpoint_final.pth") }
            let choice = finals.count == 1 ? finals : checkpoints
            guard choice.count == 1 else {
                throw FormatError(
                    .unsupported, file: folder,
                    checkpoints.isEmpty
                        ? "an nnU-Net results folder without a checkpoint in \(folds.joined(separator: ", "))"
                        : "an nnU-Net results folder with several checkpoints; name one: "
                            + checkpoints.map { "\(folder)/\($0)" }.joined(separator: ", "))
            }
            return url.appendingPathComponent(choice[0]).path
        }
        throw FormatError(
            .unsupported, file: folder,
            "a folder that is neither an nnU-Net results folder (plans.json, fold_N/checkpoint_final.pth), a "
                + "save_pretrained folder (config.json, model.safetensors) nor a BioImage Model Zoo package (rdf.yaml)")
    }

    /// `plans.json` and `dataset.json` one folder up from an nnU-Net checkpoint (with the
    /// configuration from the folder's name `<Trainer>__<Plans>__<configuration>`), or the
    /// `config.json` beside a `save_pretrained` weights file.
    private static func besideFiles(of file: String) throws(FormatError) -> [String: JSONValue] {
        let url = URL(fileURLWithPath: file)
        let folder = url.deletingLastPathComponent()
        var entries: [String: JSONValue] = [:]
        let name = url.lastPathComponent
        if name.hasPrefix("checkpoint_"), name.hasSuffix(".pth") {
            let results = folder.deletingLastPathComponent()
            if let plans = try json(results.appendingPathComponent(nnunetPlans).path) {
                entries[nnunetPlans] = plans
                entries[nnunetDataset] = try json(results.appendingPathComponent(nnunetDataset).path)
                let parts = results.lastPathComponent.components(separatedBy: "__")
                if parts.count == 3 { entries[nnunetConfiguration] = .string(parts[2]) }
            }
        } else if name == "model.safetensors" || name == "pytorch_model.bin" {
            entries[pretrainedConfig] = try json(folder.appendingPathComponent(pretrainedConfig).path)
        }
        return entries.filter { $0.value != .null }
    }

    /// A small JSON file, or nil when there is none.
    private static func json(_ path: String) throws(FormatError) -> JSONValue? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let file = try InputFile(path: path)
        guard file.size <= 16 << 20 else { throw FormatError(.malformed, file: path, "a JSON file larger than 16 MB") }
        let data = Data(try file.read(at: 0, count: file.size))
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            throw FormatError(.malformed, file: path, "not valid JSON")
        }
        return value
    }
}
