/// Constructors for the U-Net families our users bring (see docs/architectures.md).
extension ArchitectureV1 {
    /// Ronneberger et al. (2015): 3×3 valid convs + ReLU with bias, 2×2 max-pool, 2×2 transposed
    /// up-convs halving the channels, crop-and-concat, dropout at the bottom, 1×1 head.
    /// `paper()` is the published network: 31,030,658 parameters, 572×572 → 388×388.
    public static func paper(inChannels: Int = 1, outChannels: Int = 2, widths: [Int] = [64, 128, 256, 512, 1024])
        -> ArchitectureV1
    {
        let depth = widths.count - 1
        return ArchitectureV1(
            name: "paper", inChannels: inChannels, outChannels: outChannels,
            encoder: widths.map { EncoderLevel(convs: [$0, $0]) },
            decoder: widths.dropLast().map { DecoderLevel(upChannels: $0, convs: [$0, $0]) },
            conv: Convolution(kernel: 3, padding: .valid, bias: true),
            upsample: .transposed(bias: true),
            skip: SkipConnection(order: .skipFirst, merge: .crop),
            dropout: depth >= 1
                ? [Dropout(after: "encoder.\(depth - 1)", rate: 0.5), Dropout(after: "encoder.\(depth)", rate: 0.5)]
                : [],
            head: Head(convs: [], bias: true))
    }

    /// milesial/Pytorch-UNet: 3×3 same convs without bias, BatchNorm (eps 1e-5), ReLU; transposed
    /// up-convs, or bilinear up-sampling (`align_corners`) with that variant's channel halving;
    /// zero pad-to-match, skip first; 1×1 head giving logits.
    public static func milesial(inChannels: Int = 3, classes: Int = 2, bilinear: Bool = false, baseWidth: Int = 64)
        -> ArchitectureV1
    {
        let widths = (0..<5).map { baseWidth << $0 }
        let factor = bilinear ? 2 : 1
        var encoderWidths = widths
        encoderWidths[4] = widths[4] / factor
        let decoder: [DecoderLevel] = (0..<4).map { level in
            if bilinear {
                // Up(in, out // 2) with DoubleConv(in, out, mid = in // 2); `in` = skip + up-sampled.
                let below = level == 3 ? encoderWidths[4] : (widths[level + 1] / factor)
                let output = level == 0 ? widths[0] : widths[level] / factor
                return DecoderLevel(upChannels: below, convs: [(widths[level] + below) / 2, output])
            }
            return DecoderLevel(upChannels: widths[level], convs: [widths[level], widths[level]])
        }
        return ArchitectureV1(
            name: "milesial", inChannels: inChannels, outChannels: classes,
            encoder: encoderWidths.map { EncoderLevel(convs: [$0, $0]) },
            decoder: decoder,
            conv: Convolution(kernel: 3, padding: .same, bias: false),
            norm: Normalization(kind: .batch, eps: 1e-5, momentum: 0.1),
            upsample: bilinear ? Upsampling(kind: .bilinear, alignCorners: true) : .transposed(bias: true),
            skip: SkipConnection(order: .skipFirst, merge: .pad),
            head: Head(convs: [], bias: true))
    }

    /// MONAI `BasicUNet` with `spatial_dims=2`: 3×3 same convs with bias, affine InstanceNorm,
    /// LeakyReLU(0.1), 2×2 deconvs halving the channels except at the top, replicate pad-to-match,
    /// encoder feature first. `features` is MONAI's six-tuple: five level widths, then the last
    /// decoder width.
    public static func monaiBasicUNet(
        inChannels: Int = 1, outChannels: Int = 2, features: [Int] = [32, 32, 64, 128, 256, 32],
        instanceNormEps: Double = 1e-5, negativeSlope: Double = 0.1
    ) -> ArchitectureV1 {
        precondition(features.count == 6, "MONAI BasicUNet takes six features")
        // UpCat(in, cat, out, halves): up = in // 2 if halves else in; TwoConv(cat + up, out).
        let decoder: [DecoderLevel] = (0..<4).map { level in
            let below = features[level + 1]
            let up = level == 0 ? below : below / 2
            let output = level == 0 ? features[5] : features[level]
            return DecoderLevel(upChannels: up, convs: [output, output])
        }
        return ArchitectureV1(
            name: "monai-basicunet", inChannels: inChannels, outChannels: outChannels,
            encoder: features.prefix(5).map { EncoderLevel(convs: [$0, $0]) },
            decoder: decoder,
            conv: Convolution(kernel: 3, padding: .same, bias: true),
            norm: Normalization(kind: .instance, eps: instanceNormEps, affine: true),
            activation: .leakyReLU(negativeSlope),
            upsample: .transposed(bias: true),
            skip: SkipConnection(order: .skipFirst, merge: .padReplicateEnd),
            head: Head(convs: [], bias: true))
    }

    /// A Keras functional U-Net in the style of zhixuhao/unet: 3×3 same convs with bias + ReLU,
    /// nearest ×2 then a 2×2 same conv + ReLU, skip first, dropout after the last two encoder
    /// levels, an extra 3×3 conv to `headChannels` before a 1×1 sigmoid classifier.
    public static func kerasFunctional(
        inChannels: Int = 1, outChannels: Int = 1, widths: [Int] = [64, 128, 256, 512, 1024], headChannels: Int = 2,
        finalActivation: FinalActivation = .sigmoid
    ) -> ArchitectureV1 {
        let depth = widths.count - 1
        return ArchitectureV1(
            name: "keras-functional", inChannels: inChannels, outChannels: outChannels,
            encoder: widths.map { EncoderLevel(convs: [$0, $0]) },
            decoder: widths.dropLast().map { DecoderLevel(upChannels: $0, convs: [$0, $0]) },
            conv: Convolution(kernel: 3, padding: .same, bias: true),
            upsample: Upsampling(kind: .nearest, convKernel: 2, bias: true, activation: true),
            skip: SkipConnection(order: .skipFirst, merge: .crop),
            dropout: depth >= 1
                ? [Dropout(after: "encoder.\(depth - 1)", rate: 0.5), Dropout(after: "encoder.\(depth)", rate: 0.5)]
                : [],
            head: Head(convs: [Head.ExtraConvolution(channels: headChannels, kernel: 3)], bias: true),
            finalActivation: finalActivation)
    }
}
