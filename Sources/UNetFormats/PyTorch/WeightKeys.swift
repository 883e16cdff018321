/// Chooses the copy of the weights among a state dict's keys and removes the prefixes that
/// wrappers add to every key, so the keys are those of the bare model's `state_dict()`.
///
/// Wrapper prefixes: `module.` (DataParallel, DistributedDataParallel, `AveragedModel`; repeated
/// when wrappers nest, as timm's `ModelEmaV2` around DataParallel gives `module.module.`) and
/// `_orig_mod.` (`torch.compile`). In a Lightning checkpoint, also the LightningModule attribute
/// that every key starts with (`model.`, `net.`, `unet.`). EMA copies: keys prefixed `ema.`,
/// `model_ema.`, `ema_model.` beside raw keys naming the same tensors, or `AveragedModel`'s
/// `module.` keys with an `n_averaged` counter.
enum WeightKeys {
    static let wrapperPrefixes = ["module.", "_orig_mod."]
    static let emaPrefixes = ["ema.", "model_ema.", "ema_model.", "module_ema."]

    struct Selection {
        /// Source key → key of the bare model, for the keys of the copy taken only.
        var names: [String: String]
        var weights: WeightsChoice
        var other: WeightsChoice?
        var source: String?
        var removedPrefix: String?
    }

    /// - Parameters:
    ///   - stripAttribute: remove a first component every key shares (Lightning checkpoints).
    ///   - splitEMA: look for EMA copies among the keys (not when the container already chose).
    static func select(
        _ keys: [String], choice: WeightsChoice?, stripAttribute: Bool, splitEMA: Bool = true, file: String
    ) throws(FormatError) -> Selection {
        var keys = keys
        var averaged = false
        if splitEMA, keys.count > 1, keys.contains("n_averaged"),
            keys.allSatisfy({ $0 == "n_averaged" || $0.hasPrefix("module.") })
        {
            averaged = true
            keys.removeAll { $0 == "n_averaged" }
        }
        if splitEMA && !averaged {
            for prefix in emaPrefixes {
                let ema = keys.filter { $0.hasPrefix(prefix) }
                let raw = keys.filter { !$0.hasPrefix(prefix) }
                guard !ema.isEmpty, !raw.isEmpty else { continue }
                let rawClean = clean(raw, stripAttribute: stripAttribute)
                let emaClean = clean(ema.map { String($0.dropFirst(prefix.count)) }, stripAttribute: false)
                guard Set(emaClean.names.values).isSubset(of: rawClean.names.values) else { continue }
                let taken = try choose(hasRaw: true, hasEMA: true, choice: choice, file: file)
                var selection = Selection(
                    names: rawClean.names, weights: taken, other: taken == .raw ? .ema : .raw,
                    source: taken == .raw ? nil : "the keys prefixed \"\(prefix)\"", removedPrefix: rawClean.prefix)
                if taken == .ema {
                    selection.names = Dictionary(
                        uniqueKeysWithValues: ema.map { ($0, emaClean.names[String($0.dropFirst(prefix.count))]!) })
                    selection.removedPrefix = prefix + (emaClean.prefix ?? "")
                }
                return selection
            }
        }
        let cleaned = clean(keys, stripAttribute: stripAttribute)
        let taken = try choose(hasRaw: !averaged, hasEMA: averaged, choice: choice, file: file)
        return Selection(names: cleaned.names, weights: taken, removedPrefix: cleaned.prefix)
    }

    /// The copy to take when the file holds raw weights, EMA weights or both: the one asked for,
    /// else the raw one.
    static func choose(
        hasRaw: Bool, hasEMA: Bool, choice: WeightsChoice?, file: String
    ) throws(FormatError) -> WeightsChoice {
        switch choice {
        case nil: return hasRaw ? .raw : .ema
        case .raw:
            guard hasRaw else {
                throw FormatError(
                    .unsupported, file: file, "--weights raw: the file holds only averaged (EMA/SWA) weights")
            }
            return .raw
        case .ema:
            guard hasEMA else {
                throw FormatError(
                    .unsupported, file: file,
                    "--weights ema: the file holds no EMA weights (no ema./model_ema. copies of the keys, no ema, "
                        + "ema_state_dict, model_ema or state_dict_ema entry, no AveragedModel with n_averaged)")
            }
            return .ema
        }
    }

    /// The keys without the prefix they all share: wrapper prefixes (repeatedly) and, with
    /// `stripAttribute`, one first component.
    private static func clean(_ keys: [String], stripAttribute: Bool) -> (names: [String: String], prefix: String?) {
        var prefix = ""
        func rest(_ key: String) -> Substring { key.dropFirst(prefix.count) }
        func stripWrappers() {
            while let wrapper = wrapperPrefixes.first(where: { w in
                !keys.isEmpty && keys.allSatisfy { rest($0).hasPrefix(w) && rest($0).count > w.count }
            }) {
                prefix += wrapper
            }
        }
        stripWrappers()
        if stripAttribute, let first = keys.first.flatMap({ rest($0).split(separator: ".").first }) {
            let attribute = first + "."
            if keys.allSatisfy({ rest($0).hasPrefix(attribute) && rest($0).count > attribute.count }) {
                prefix += attribute
                stripWrappers()
            }
        }
        let names = Dictionary(keys.map { ($0, String(rest($0))) }, uniquingKeysWith: { first, _ in first })
        return (names, prefix.isEmpty ? nil : prefix)
    }
}

extension SourceTensors {
    /// Removes wrapper prefixes and keeps one copy of the weights, as ``WeightKeys`` decides, for
    /// a format whose reader has no container step of its own (safetensors).
    mutating func selectWeights(_ choice: WeightsChoice?, file: String) throws(FormatError) {
        let keys = tensors.map(\.key) + integers.map(\.key)
        guard !keys.isEmpty else { return }
        let selection = try WeightKeys.select(keys, choice: choice, stripAttribute: false, file: file)
        tensors = tensors.compactMap { entry in selection.names[entry.key].map { ($0, entry.tensor) } }
        integers = integers.compactMap { entry in selection.names[entry.key].map { ($0, entry.value) } }
        container.weights = selection.weights
        container.otherWeights = selection.other
        container.weightsSource = selection.source
        container.removedPrefix = selection.removedPrefix
    }
}
