import UNetCheckpoint

/// Keras weights for a network read from a Keras graph (layout `keras-graph`), for the same
/// model rebuilt by its own code. Reading keeps the model config in the metadata
/// (`keras.model_config`); writing walks it again as the reading did, checks that it still
/// builds the checkpoint's network, and lays the tensors out as Keras does: every layer of the
/// config in its order, under its class-counted group (``KerasGraph/weightGroups``) and its name,
/// its variables in the order the walk read them, kernels back in Keras' axis order.
enum KerasGraphExport {
    /// The top-level metadata field (docs/format.md §6).
    static let field = "keras"

    /// The metadata fields recording `graph` for a later export.
    static func metadata(for graph: KerasGraph) -> [String: JSONValue] {
        [field: .object(["model_config": graph.modelConfig])]
    }

    /// The model's name and its layers with their tensors, for ``KerasWriter``.
    static func layers(of checkpoint: Checkpoint, file: String) throws(FormatError) -> (
        model: String?, layers: [KerasWriter.Layer]
    ) {
        guard case .object(let keras)? = checkpoint.metadata.additionalFields[field],
            let config = keras["model_config"]
        else {
            throw FormatError(
                .unsupported, file: file,
                "this keras-graph checkpoint records no Keras model config (metadata.keras.model_config, kept when "
                    + "a .keras or legacy .h5 file is read), so the Keras weight layout cannot be rebuilt; "
                    + "convert the Keras file again")
        }
        let graph = try KerasGraph(config: config, file: file)
        let reading = try KerasGraphWalk.read(graph, shapes: nil, file: file)
        try checkpoint.architecture.requireSame(
            as: reading.architecture, builtBy: "its recorded Keras model config", file: file,
            otherwise: "Keras weights are written only for it")
        var written = 0
        var layers: [KerasWriter.Layer] = []
        for (group, layer) in graph.weightGroups {
            var variables: [(name: String, tensor: Tensor)] = []
            while let key = reading.renames["\(layer.name)/\(variables.count)"] {
                guard let tensor = checkpoint.tensors[key], let field = key.split(separator: ".").last else {
                    throw FormatError(
                        .unsupported, file: file, "the checkpoint has no tensor \(key) for Keras layer \(layer.name)")
                }
                let name = KerasWriter.variableName(
                    field: String(field), inNorm: layer.className == "BatchNormalization")
                variables.append((name, KerasWriter.kerasShaped(tensor)))
            }
            written += variables.count
            layers.append(KerasWriter.Layer(group: group, name: layer.name, variables: variables))
        }
        guard written == checkpoint.tensors.count else {
            throw FormatError(
                .unsupported, file: file,
                "the recorded Keras model config places \(written) of the checkpoint's \(checkpoint.tensors.count) "
                    + "tensors")
        }
        return (graph.name, layers)
    }
}
