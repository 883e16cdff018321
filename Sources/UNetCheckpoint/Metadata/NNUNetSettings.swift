/// What nnU-Net v2 records about running a network, read from `metadata.nnunet` (written when a
/// checkpoint or results folder of nnU-Net is converted; docs/layouts.md): the window its
/// predictor slides, the axes it mirrors, how it normalises each input channel, the axis order.
public struct NNUNetSettings: Sendable, Equatable {
    /// One input channel's intensities over the training set's foreground (the plans'
    /// `foreground_intensity_properties_per_channel`), used by CT normalisation.
    public struct IntensityProperties: Sendable, Equatable {
        public var mean: Double
        public var std: Double
        public var percentile00_5: Double
        public var percentile99_5: Double

        public init(mean: Double, std: Double, percentile00_5: Double, percentile99_5: Double) {
            self.mean = mean
            self.std = std
            self.percentile00_5 = percentile00_5
            self.percentile99_5 = percentile99_5
        }
    }

    /// `3d_fullres`, `2d`, …
    public var configuration: String?
    /// The predictor's window (`patch_size`), in nnU-Net's axis order.
    public var patchSize: [Int]?
    /// The axes the predictor may mirror (`inference_allowed_mirroring_axes`), spatial and 0-based.
    public var mirroringAxes: [Int]?
    /// One scheme per input channel: `ZScoreNormalization`, `CTNormalization`, `NoNormalization`,
    /// `RescaleTo01Normalization`, `RGBTo0_1Normalization`.
    public var normalizationSchemes: [String]?
    /// Per channel: whether the normalisation is computed inside the non-zero region only.
    public var useMaskForNorm: [Bool]?
    /// Per input channel, by its number.
    public var intensityProperties: [Int: IntensityProperties]
    /// The plans' `transpose_forward`: the array axes nnU-Net reads images into, permuted so.
    public var transposeForward: [Int]?
    /// The configuration's voxel spacing, in nnU-Net's axis order.
    public var spacing: [Double]?

    /// The settings of `metadata.nnunet`, or nil when the checkpoint does not come from nnU-Net.
    public init?(_ metadata: CheckpointMetadata) {
        guard let settings = metadata.additionalFields["nnunet"], settings.objectValue != nil else { return nil }
        configuration = settings["configuration"]?.stringValue
        patchSize = settings["patch_size"]?.integers
        mirroringAxes = settings["inference_allowed_mirroring_axes"]?.integers
        normalizationSchemes = settings["normalization_schemes"]?.arrayValue?.compactMap(\.stringValue)
        useMaskForNorm = settings["use_mask_for_norm"]?.arrayValue?.compactMap(\.boolValue)
        let plans = settings["plans"]
        transposeForward = plans?["transpose_forward"]?.integers
        spacing = settings["spacing"]?.arrayValue?.compactMap(\.doubleValue)
        var properties: [Int: IntensityProperties] = [:]
        for (channel, value) in plans?["foreground_intensity_properties_per_channel"]?.objectValue ?? [:] {
            guard let channel = Int(channel), let mean = value["mean"]?.doubleValue,
                let std = value["std"]?.doubleValue,
                let lower = value["percentile_00_5"]?.doubleValue, let upper = value["percentile_99_5"]?.doubleValue
            else { continue }
            properties[channel] = IntensityProperties(
                mean: mean, std: std, percentile00_5: lower, percentile99_5: upper)
        }
        intensityProperties = properties
    }
}
