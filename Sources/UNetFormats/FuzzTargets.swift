import Foundation

/// Entry points for the mutation fuzzer (`unet-ckpt-fuzz`): each parses untrusted bytes and
/// reports whether they were accepted. Not part of the API.
@_spi(Fuzzing) public enum FuzzTargets {
    /// The restricted unpickler on raw pickle bytes.
    public static func pickle(_ bytes: [UInt8]) -> Bool {
        var unpickler = RestrictedUnpickler(bytes)
        return (try? unpickler.load()) != nil
    }

    /// The safetensors reader on a file.
    public static func safetensors(_ path: String) -> Bool { (try? Safetensors.read(path)) != nil }

    /// The PyTorch zip reader (zip directory, entries, pickle, storages) on a file.
    public static func pytorch(_ path: String) -> Bool { (try? PyTorchReader.read(path)) != nil }

    /// A BioImage Model Zoo description (`rdf.yaml`): the YAML reader and what unet-ckpt takes
    /// from the description (files, weights, normalisation, channel names).
    public static func bioimageio(_ data: Data) -> Bool {
        guard let text = String(data: data, encoding: .utf8),
            let package = try? BioImagePackage(text: text, place: "fuzz")
        else { return false }
        _ = package.namedFiles
        _ = package.inputNormalization()
        _ = package.outputChannelNames
        _ = package.keptFields
        return (try? package.weightsChoice()) != nil
    }

    /// The mapping-file parser.
    public static func mapping(_ data: Data) -> Bool { (try? MappingFile(data: data, path: "fuzz")) != nil }
}
