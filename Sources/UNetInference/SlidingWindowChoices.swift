import UNetCheckpoint

extension SlidingWindow {
    /// The settings a user gave; every one left nil is the checkpoint framework's.
    public struct Choices: Sendable, Equatable {
        public var window: [Int]?
        public var overlap: Double?
        public var blending: Blending?
        public var sums: Sums?
        /// Mirror along the axes the checkpoint allows (nnU-Net's `inference_allowed_mirroring_axes`;
        /// every spatial axis when it records none).
        public var mirror = false
        /// Mirror along these axes instead.
        public var mirrorAxes: [Int]?

        public init(
            window: [Int]? = nil, overlap: Double? = nil, blending: Blending? = nil, sums: Sums? = nil,
            mirror: Bool = false, mirrorAxes: [Int]? = nil
        ) {
            self.window = window
            self.overlap = overlap
            self.blending = blending
            self.sums = sums
            self.mirror = mirror
            self.mirrorAxes = mirrorAxes
        }
    }

    /// The blending of a checkpoint's framework: nnU-Net's for checkpoints nnU-Net wrote (or its
    /// networks' library), MONAI's for every other.
    public static func blending(of metadata: CheckpointMetadata) -> Blending {
        NNUNetSettings(metadata) != nil || metadata.source?.library == "dynamic-network-architectures"
            ? .nnunet : .monai
    }

    /// The sliding window the checkpoint's framework would slide, with the user's choices over it;
    /// nil when neither the checkpoint (nnU-Net's patch size) nor the user gives a window. Each
    /// setting the checkpoint supplied is said in `notes`.
    public init?(
        model: UNetModel, metadata: CheckpointMetadata, choices: Choices, notes: inout [String]
    ) throws(InferenceError) {
        let nnunet = NNUNetSettings(metadata)
        let dims = model.architecture.spatialDims
        guard let window = choices.window ?? nnunet?.patchSize.flatMap({ $0.count == dims ? $0 : nil }) else {
            return nil
        }
        if choices.window == nil { notes.append("window \(Self.text(window)) (nnU-Net's patch size)") }
        let blending = choices.blending ?? Self.blending(of: metadata)
        var mirrorAxes = choices.mirrorAxes ?? []
        if choices.mirror && choices.mirrorAxes == nil {
            if let allowed = nnunet?.mirroringAxes {
                mirrorAxes = allowed.filter { $0 < dims }
                notes.append("mirroring along axes \(Self.axes(mirrorAxes)) (the axes nnU-Net allows)")
            } else {
                mirrorAxes = Array(0..<dims)
            }
        }
        if nnunet != nil, !choices.mirror, choices.mirrorAxes == nil {
            notes.append("no mirroring (nnU-Net's predictor mirrors by default: --mirror)")
        }
        try self.init(
            model: model, window: window, overlap: choices.overlap ?? 0.5, blending: blending,
            mirrorAxes: mirrorAxes, sums: choices.sums)
    }

    /// `8×16×16`.
    static func text(_ sizes: [Int]) -> String { sizes.map(String.init).joined(separator: "×") }
    /// `0, 1, 2`.
    static func axes(_ axes: [Int]) -> String { axes.map(String.init).joined(separator: ", ") }

    /// `sliding window 8×16×16, overlap 0.5, nnU-Net's Gaussian, float16 sums, 24 windows`.
    public func summary(for spatial: [Int]) -> String {
        let count = windowCount(for: spatial)
        let name = blending == .nnunet ? "nnU-Net's" : "MONAI's"
        return "sliding window \(Self.text(window)), overlap \(overlap), \(name) Gaussian, \(sums.rawValue) sums"
            + (mirrorAxes.isEmpty ? "" : ", mirrored along axes \(Self.axes(mirrorAxes))")
            + ", \(count) window\(count == 1 ? "" : "s")"
    }
}
