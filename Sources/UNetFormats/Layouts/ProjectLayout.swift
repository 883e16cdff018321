import UNetCheckpoint

/// A project's key layout: how its state-dict keys map to canonical keys and back, and the
/// architecture fields its weights leave unsaid.
protocol ProjectLayout: Sendable {
    /// The name recorded in `metadata.source.layout` and accepted by `--layout`.
    static var name: String { get }
    /// Whether the keys (after removing a DataParallel `module.` prefix) follow this layout.
    static func recognizes(_ keys: Set<String>) -> Bool
    /// The number of down-sampling steps the keys show.
    static func depth(of keys: Set<String>) -> Int
    /// The canonical key of a source key, or nil when the key is not a weight of this layout.
    static func canonicalKey(for key: String, depth: Int) -> String?
    /// The source key of a canonical key (for exports).
    static func sourceKey(for canonicalKey: String, depth: Int) -> String?
    /// What the project fixes but its weights cannot show (docs/format.md §3 JSON fields).
    static func architectureDefaults(_ keys: Set<String>) -> [String: JSONValue]
}

/// The layouts recognised without a mapping file, in the order they are tried.
let knownLayouts: [any ProjectLayout.Type] = [
    CanonicalLayout.self, MilesialSequentialLayout.self, MilesialLayout.self, MonaiBasicUNetLayout.self,
]

/// The largest N of the keys' first components `<prefix>N` (0 when there is none): the depth of a
/// layout that numbers its down-sampling steps from 1, told even when some of their tensors are missing.
func deepestLevel(_ keys: Set<String>, prefix: String) -> Int {
    keys.compactMap { $0.prefix { $0 != "." }.description.number(after: prefix) }.max() ?? 0
}

/// Helpers for parsing dotted keys.
extension String {
    /// `"down3"` with prefix `"down"` → 3.
    func number(after prefix: String) -> Int? {
        guard hasPrefix(prefix) else { return nil }
        return Int(dropFirst(prefix.count))
    }
}

/// unet-ckpt's own canonical keys (`encoder.0.conv0.weight`), as written in a `.pth` or
/// safetensors file by `unet-ckpt convert --layout unet-ckpt`.
enum CanonicalLayout: ProjectLayout {
    static let name = "unet-ckpt"

    static func recognizes(_ keys: Set<String>) -> Bool {
        keys.contains("encoder.0.conv0.weight") && keys.contains("head.out.weight")
    }

    static func depth(of keys: Set<String>) -> Int {
        (0...).first { !keys.contains("encoder.\($0 + 1).conv0.weight") }!
    }

    static func canonicalKey(for key: String, depth: Int) -> String? { key }
    static func sourceKey(for canonicalKey: String, depth: Int) -> String? { canonicalKey }
    static func architectureDefaults(_ keys: Set<String>) -> [String: JSONValue] { [:] }
}

/// milesial/Pytorch-UNet: `inc`, `down1…`, `up1…` (deepest first), `outc`; each DoubleConv is
/// `(conv, bn, relu) × 2` at indices 0, 1, 3, 4.
enum MilesialLayout: ProjectLayout {
    static let name = "milesial"

    static func recognizes(_ keys: Set<String>) -> Bool {
        keys.contains("inc.double_conv.0.weight") && keys.contains("outc.conv.weight")
    }

    static func depth(of keys: Set<String>) -> Int { deepestLevel(keys, prefix: "down") }

    static func canonicalKey(for key: String, depth: Int) -> String? {
        let parts = key.split(separator: ".").map(String.init)
        guard let parameter = parts.last else { return nil }
        func doubleConv(_ index: String, _ block: String) -> String? {
            guard let i = Int(index) else { return nil }
            switch i % 3 {
            case 0: return "\(block).conv\(i / 3).\(parameter)"
            case 1: return "\(block).norm\(i / 3).\(parameter)"
            default: return nil
            }
        }
        switch parts.count {
        case 4 where parts[0] == "inc" && parts[1] == "double_conv":
            return doubleConv(parts[2], "encoder.0")
        case 6 where parts[1] == "maxpool_conv" && parts[2] == "1" && parts[3] == "double_conv":
            guard let level = parts[0].number(after: "down"), level >= 1 else { return nil }
            return doubleConv(parts[4], "encoder.\(level)")
        case 3 where parts[1] == "up":
            guard let n = parts[0].number(after: "up"), n >= 1, n <= depth else { return nil }
            return "decoder.\(depth - n).up.\(parameter)"
        case 5 where parts[1] == "conv" && parts[2] == "double_conv":
            guard let n = parts[0].number(after: "up"), n >= 1, n <= depth else { return nil }
            return doubleConv(parts[3], "decoder.\(depth - n)")
        case 3 where parts[0] == "outc" && parts[1] == "conv":
            return "head.out.\(parameter)"
        default:
            return nil
        }
    }

    static func sourceKey(for canonicalKey: String, depth: Int) -> String? {
        let parts = canonicalKey.split(separator: ".").map(String.init)
        guard parts.count >= 3, let parameter = parts.last else { return nil }
        if parts[0] == "head" { return parts[1] == "out" ? "outc.conv.\(parameter)" : nil }
        guard let level = Int(parts[1]) else { return nil }
        let layer = parts[2]
        let index: Int? =
            if let j = layer.number(after: "conv") { 3 * j } else if let j = layer.number(after: "norm") {
                3 * j + 1
            } else { nil }
        switch parts[0] {
        case "encoder":
            guard let index else { return nil }
            return level == 0
                ? "inc.double_conv.\(index).\(parameter)"
                : "down\(level).maxpool_conv.1.double_conv.\(index).\(parameter)"
        case "decoder":
            let n = depth - level
            if layer == "up" { return "up\(n).up.\(parameter)" }
            return index.map { "up\(n).conv.double_conv.\($0).\(parameter)" }
        default:
            return nil
        }
    }

    static func architectureDefaults(_ keys: Set<String>) -> [String: JSONValue] {
        var defaults: [String: JSONValue] = [
            "name": .string(name),
            "conv": .object(["padding": .string("same")]),
            "norm": .object(["kind": .string("batch"), "eps": .number(1e-5), "momentum": .number(0.1)]),
            "downsample": .object(["kind": .string("max_pool"), "size": .number(2)]),
            "activation": .object(["kind": .string("relu")]),
            "skip": .object(["order": .string("skip_first"), "merge": .string("pad")]),
            "final_activation": .string("none"),
        ]
        if !keys.contains("up1.up.weight") {
            defaults["upsample"] = .object(["kind": .string("bilinear"), "align_corners": .bool(true)])
        }
        return defaults
    }
}

/// milesial's network with `Down` written as an `nn.Sequential(MaxPool2d, DoubleConv)` instead of
/// a module holding one (`down1.1.double_conv.0.weight` for `down1.maxpool_conv.1.double_conv.0.weight`),
/// as many copies of its code do; everything else is milesial's.
enum MilesialSequentialLayout: ProjectLayout {
    static let name = "milesial-sequential-down"

    static func recognizes(_ keys: Set<String>) -> Bool {
        keys.contains("inc.double_conv.0.weight") && keys.contains("outc.conv.weight")
            && keys.contains("down1.1.double_conv.0.weight")
    }

    static func depth(of keys: Set<String>) -> Int { deepestLevel(keys, prefix: "down") }

    /// `downN.1.…` ↔ `downN.maxpool_conv.1.…`.
    private static func milesialKey(_ key: String) -> String {
        let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0].number(after: "down") != nil, parts[1].hasPrefix("1.") else { return key }
        return "\(parts[0]).maxpool_conv.\(parts[1])"
    }

    static func canonicalKey(for key: String, depth: Int) -> String? {
        guard !key.contains(".maxpool_conv.") else { return nil }
        return MilesialLayout.canonicalKey(for: milesialKey(key), depth: depth)
    }

    static func sourceKey(for canonicalKey: String, depth: Int) -> String? {
        MilesialLayout.sourceKey(for: canonicalKey, depth: depth)?.replacingOccurrences(of: ".maxpool_conv.", with: ".")
    }

    static func architectureDefaults(_ keys: Set<String>) -> [String: JSONValue] {
        var defaults = MilesialLayout.architectureDefaults(keys)
        defaults["name"] = .string(name)
        return defaults
    }
}

/// MONAI `BasicUNet` (2-D): `conv_0`, `down_1…`, `upcat_4…upcat_1`, `final_conv`; each TwoConv
/// is `conv_0`, `conv_1` with the conv under `.conv` and the norm under `.adn.N`.
enum MonaiBasicUNetLayout: ProjectLayout {
    static let name = "monai-basicunet"

    static func recognizes(_ keys: Set<String>) -> Bool {
        keys.contains("conv_0.conv_0.conv.weight") && keys.contains("final_conv.weight")
    }

    static func depth(of keys: Set<String>) -> Int { deepestLevel(keys, prefix: "down_") }

    static func canonicalKey(for key: String, depth: Int) -> String? {
        let parts = key.split(separator: ".").map(String.init)
        guard let parameter = parts.last else { return nil }
        /// `conv_J.conv.P` or `conv_J.adn.N.P` within a TwoConv.
        func twoConv(_ rest: ArraySlice<String>, _ block: String) -> String? {
            guard let j = rest.first?.number(after: "conv_") else { return nil }
            let tail = Array(rest.dropFirst())
            if tail.count == 2, tail[0] == "conv" { return "\(block).conv\(j).\(parameter)" }
            if tail.count == 3, tail[0] == "adn", tail[1] == "N" { return "\(block).norm\(j).\(parameter)" }
            return nil
        }
        if parts[0] == "conv_0" { return twoConv(parts[1...], "encoder.0") }
        if let level = parts[0].number(after: "down_"), parts.count > 2, parts[1] == "convs" {
            return twoConv(parts[2...], "encoder.\(level)")
        }
        if let n = parts[0].number(after: "upcat_"), n >= 1, n <= depth {
            if parts.count == 4, parts[1] == "upsample", parts[2] == "deconv" {
                return "decoder.\(n - 1).up.\(parameter)"
            }
            if parts.count > 2, parts[1] == "convs" { return twoConv(parts[2...], "decoder.\(n - 1)") }
        }
        if parts.count == 2, parts[0] == "final_conv" { return "head.out.\(parameter)" }
        return nil
    }

    static func sourceKey(for canonicalKey: String, depth: Int) -> String? {
        let parts = canonicalKey.split(separator: ".").map(String.init)
        guard parts.count >= 3, let parameter = parts.last else { return nil }
        if parts[0] == "head" { return parts[1] == "out" ? "final_conv.\(parameter)" : nil }
        guard let level = Int(parts[1]) else { return nil }
        let layer = parts[2]
        let inner: String? =
            if let j = layer.number(after: "conv") {
                "conv_\(j).conv.\(parameter)"
            } else if let j = layer.number(after: "norm") { "conv_\(j).adn.N.\(parameter)" } else { nil }
        switch parts[0] {
        case "encoder":
            return inner.map { level == 0 ? "conv_0.\($0)" : "down_\(level).convs.\($0)" }
        case "decoder":
            if layer == "up" { return "upcat_\(level + 1).upsample.deconv.\(parameter)" }
            return inner.map { "upcat_\(level + 1).convs.\($0)" }
        default:
            return nil
        }
    }

    static func architectureDefaults(_ keys: Set<String>) -> [String: JSONValue] {
        [
            "name": .string(name),
            "conv": .object(["padding": .string("same")]),
            "norm": .object(["kind": .string("instance"), "eps": .number(1e-5), "affine": .bool(true)]),
            "downsample": .object(["kind": .string("max_pool"), "size": .number(2)]),
            "activation": .object(["kind": .string("leaky_relu"), "negative_slope": .number(0.1)]),
            "skip": .object(["order": .string("skip_first"), "merge": .string("pad_replicate_end")]),
            "final_activation": .string("none"),
        ]
    }
}
