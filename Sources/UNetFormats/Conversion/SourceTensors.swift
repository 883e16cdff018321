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
    /// What held the weights (a training dict, a Lightning checkpoint, …), which copy was taken
    /// and the key prefix removed.
    public var container = ContainerInfo()
    /// The container's other top-level entries that convert to JSON (`epoch`, Lightning's
    /// `hyper_parameters`, nnU-Net's `init_args` with `plans` and `configuration`, …).
    public var containerEntries: [String: JSONValue] = [:]

    public init() {}

    /// The tensor with this source key.
    public func tensor(_ key: String) -> Tensor? { tensors.first { $0.key == key }?.tensor }
}

/// Which copy of the weights to take from a file that holds both the trained weights and an
/// exponential moving average (or `AveragedModel`) of them.
public enum WeightsChoice: String, CaseIterable, Sendable {
    /// The weights the optimizer trained.
    case raw
    /// The averaged copy (EMA, SWA).
    case ema
}

/// What a checkpoint file wrapped around its weights.
public struct ContainerInfo: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The weights themselves: a dict of tensors (`torch.save(model.state_dict())`, safetensors…).
        case stateDict
        /// A training script's dict with the weights under `key` (`model_state_dict`, `state_dict`…).
        case trainingDict(key: String)
        /// A PyTorch Lightning `.ckpt` (`pytorch-lightning_version`).
        case lightning(version: String)
        /// An nnU-Net v2 `checkpoint_final.pth` / `checkpoint_best.pth` (`network_weights`, `init_args`).
        case nnUNet
        /// A `torch.jit.save` archive, its parameters read from the module objects' state.
        case torchScript
        /// `torch.save(model)`: a pickled module tree of this class (never imported).
        case wholeModule(className: String)
    }

    public var kind: Kind = .stateDict
    /// Whether the file is in the legacy (pre-1.6) `torch.save` format rather than a zip.
    public var legacyFormat = false
    /// The copy taken.
    public var weights: WeightsChoice = .raw
    /// Where the copy taken sits when the file holds both (`"ema" entry`, `keys prefixed "ema."`).
    public var weightsSource: String?
    /// The other copy, when the file holds both.
    public var otherWeights: WeightsChoice?
    /// The prefix removed from every key (`module.`, `model.`, `_orig_mod.`, …), if any.
    public var removedPrefix: String?

    public init() {}

    /// One human sentence: the container, what was taken from it and what was removed.
    public var summary: String? {
        var parts: [String] = []
        let legacy = legacyFormat ? " (legacy pre-1.6 format)" : ""
        switch kind {
        case .stateDict: if legacyFormat { parts.append("read the state dict of a legacy (pre-1.6) torch.save file") }
        case .trainingDict(let key): parts.append("read the training dict's \(key)\(legacy)")
        case .lightning(let version):
            parts.append("read the Lightning checkpoint's state_dict (PyTorch Lightning \(version))")
        case .nnUNet: parts.append("read the nnU-Net checkpoint's network_weights\(legacy)")
        case .torchScript: parts.append("read the parameters of a TorchScript archive (its code was not read)")
        case .wholeModule(let name):
            parts.append("read the parameters of a pickled \(name) module\(legacy) (the class was not imported)")
        }
        if let prefix = removedPrefix { parts.append("removed the prefix \"\(prefix)\" from every key") }
        if let other = otherWeights {
            let taken = weights == .ema ? "EMA" : "raw"
            let source = weightsSource.map { " (\($0))" } ?? ""
            parts.append(
                "took the \(taken) weights\(source); the file also holds \(other == .ema ? "EMA" : "raw") weights "
                    + "(--weights \(other.rawValue))")
        } else if weights == .ema {
            parts.append("took the averaged (EMA/SWA) weights, the only ones the file holds")
        }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }
}
