import UNetCheckpoint

/// The weights of a foreign file under the file's own key names, in file order, with what else
/// it held. Readers of every format produce this; layouts map it to canonical keys.
public struct SourceTensors: Sendable {
    /// Float tensors by source key, in the order the file lists them.
    public var tensors: [(key: String, tensor: Tensor)] = []
    /// Integer scalars (PyTorch's `num_batches_tracked`), by source key.
    public var integers: [(key: String, value: Int64)] = []
    /// Non-tensor entries kept as data (milesial's `mask_values`, safetensors' `__metadata__`).
    public var extras: [String: JSONValue] = [:]
    /// Entries that were left out, each with the reason.
    public var skipped: [String] = []
    /// For Keras files: the layer graph from the stored model config, when there is one.
    public var kerasGraph: KerasGraph?
    /// Whether the keys are Keras' `<layer>/<index>`.
    public var isKeras = false

    public init() {}

    /// The tensor with this source key.
    public func tensor(_ key: String) -> Tensor? { tensors.first { $0.key == key }?.tensor }
}
