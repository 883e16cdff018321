import TestSupport
import UNetCheckpoint

/// Schema 2.0 networks written layer by layer for the export tests: between them (and
/// `SchemaTwoNetworks`) every operation kind and option the exporter translates.
enum HandBuiltNetworks {
    static func conv(
        _ name: String, _ out: Int, _ kernel: [Int], stride: [Int]? = nil, padding: Layer.Padding,
        dilation: [Int]? = nil, groups: Int = 1, bias: Bool = true
    ) -> Layer {
        .conv(
            Layer.Conv(
                name: name, out: out, kernel: kernel, stride: stride, padding: padding, dilation: dilation,
                groups: groups, bias: bias))
    }

    /// 2-D without skips: `same` convs (dilated at stride 1, grouped with a stride), BatchNorm with
    /// and without affine parameters, non-affine group norm, ReLU6, ELU, both GELUs, tanh, SiLU,
    /// dropout, padded ceil-mode max and average pools (padding counted and not), a Keras `same`
    /// transposed conv that crops unevenly, linear and nearest interpolation (unequal scales).
    static let poolsAndActivations = UNetArchitecture(
        name: "pools-activations", spatialDims: 2, inChannels: 3,
        encoder: [
            .init(
                name: "encoder.0",
                layers: [
                    conv("conv0", 6, [3, 3], padding: .same, dilation: [2, 2]),
                    .norm(.init(name: "norm0", kind: .batch, eps: 1e-3)),
                    .activation(.init(.relu6)),
                    conv("down", 6, [3, 3], stride: [2, 2], padding: .same, groups: 3, bias: false),
                    .norm(.init(name: "plain", kind: .batch, eps: 1e-5, affine: false)),
                    .activation(.init(.elu, alpha: 0.5)),
                ]),
            .init(
                name: "encoder.1",
                layers: [
                    .maxPool(.init(kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true)),
                    conv("conv0", 8, [3, 3], padding: .explicit([1, 1]), groups: 2),
                    .norm(.init(name: nil, kind: .group, eps: 1e-5, affine: false, groups: 4)),
                    .activation(.init(.gelu)),
                    .dropout(.init(rate: 0.3)),
                    conv("conv1", 8, [3, 3], padding: .same),
                    .activation(.init(.gelu, approximate: "tanh")),
                ]),
            .init(
                name: "encoder.2",
                layers: [
                    .avgPool(
                        .init(
                            kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true, countIncludePad: false)),
                    .avgPool(.init(kernel: [3, 3], stride: [1, 1], padding: [1, 1])),
                    conv("conv0", 8, [1, 1], padding: .explicit([0, 0])),
                    .activation(.init(.tanh)),
                ]),
        ],
        decoder: [
            .init(
                name: "decoder.0",
                up: [
                    .convTranspose(
                        .init(name: "up", out: 6, kernel: [3, 3], stride: [2, 2], padding: .same, bias: true))
                ],
                skip: nil,
                layers: [conv("conv0", 6, [3, 3], padding: .explicit([1, 1])), .activation(.init(.silu))]),
            .init(
                name: "decoder.1", up: [.interpolate(.init(mode: .linear, scale: [2, 2], alignCorners: false))],
                skip: nil, layers: [conv("conv0", 4, [3, 3], padding: .same), .activation(.init(.relu))]),
            .init(
                name: "decoder.2", up: [.interpolate(.init(mode: .nearest, scale: [2, 3]))], skip: nil,
                layers: [conv("conv0", 4, [1, 1], padding: .explicit([0, 0]))]),
        ],
        heads: [
            .init(
                name: "head", from: 2,
                layers: [conv("out", 1, [1, 1], padding: .explicit([0, 0])), .activation(.init(.sigmoid))])
        ])

    /// 2-D merges: valid convs, a zero pad to the skip after bilinear `align_corners` up-sampling
    /// (skip first), a centre crop of the skip after a transposed conv (up-sampled first), and a
    /// deep-supervision head on the first decoder stage.
    static let merges = UNetArchitecture(
        name: "merges", spatialDims: 2, inChannels: 1,
        encoder: [
            .init(
                name: "encoder.0",
                layers: [conv("conv0", 4, [3, 3], padding: .explicit([0, 0])), .activation(.init(.relu))]),
            .init(
                name: "encoder.1",
                layers: [
                    .maxPool(.init(kernel: [2, 2])), conv("conv0", 8, [3, 3], padding: .explicit([0, 0])),
                    .activation(.init(.relu)),
                ]),
            .init(
                name: "encoder.2",
                layers: [
                    .maxPool(.init(kernel: [2, 2])), conv("conv0", 8, [3, 3], padding: .explicit([1, 1])),
                    .activation(.init(.relu)),
                ]),
        ],
        decoder: [
            .init(
                name: "decoder.0", up: [.interpolate(.init(mode: .linear, scale: [2, 2], alignCorners: true))],
                skip: 1, merge: .init(order: .skipFirst, match: .pad),
                layers: [conv("conv0", 8, [3, 3], padding: .explicit([1, 1])), .activation(.init(.relu))]),
            .init(
                name: "decoder.1",
                up: [.convTranspose(.init(name: "up", out: 4, kernel: [2, 2], stride: [2, 2], bias: true))],
                skip: 0, merge: .init(order: .upsampledFirst, match: .crop),
                layers: [conv("conv0", 4, [3, 3], padding: .explicit([1, 1])), .activation(.init(.relu))]),
            .init(
                name: "decoder.2", up: [.interpolate(.init(mode: .nearest, scale: [2, 2]))], skip: nil,
                layers: [conv("conv0", 4, [3, 3], padding: .explicit([1, 1]))]),
        ],
        heads: [
            .init(
                name: "head", from: 2,
                layers: [conv("out", 3, [1, 1], padding: .explicit([0, 0])), .activation(.init(.softmax))]),
            .init(
                name: "ds1", from: 0, role: .deepSupervision,
                layers: [conv("out", 3, [1, 1], padding: .explicit([0, 0]))]),
        ])

    /// 3-D: a `same` conv, affine group norm, a shared PReLU slope, an anisotropic pool, BatchNorm
    /// (foldable), squeeze-and-excitation, a padded average pool, trilinear up-sampling, a
    /// replicate pad at the end, a multiplicative attention gate, max-only spatial attention and a
    /// transposed conv with output padding.
    static let volumetric = UNetArchitecture(
        name: "volumetric", spatialDims: 3, inChannels: 2,
        encoder: [
            .init(
                name: "encoder.0",
                layers: [
                    conv("conv0", 4, [3, 3, 3], padding: .same),
                    .norm(.init(name: "norm0", kind: .group, eps: 1e-5, groups: 2)),
                    .activation(.init(.prelu, name: "act", parameters: 1)),
                ]),
            .init(
                name: "encoder.1",
                layers: [
                    .maxPool(.init(kernel: [1, 2, 2])),
                    conv("conv0", 8, [3, 3, 3], padding: .explicit([1, 1, 1]), bias: false),
                    .norm(.init(name: "norm0", kind: .batch, eps: 1e-5)),
                    .activation(.init(.leakyReLU, negativeSlope: 0.1)),
                    .squeezeExcitation(.init(name: "se", channels: 2)),
                    .avgPool(.init(kernel: [3, 3, 3], stride: [1, 1, 1], padding: [1, 1, 1])),
                ]),
        ],
        decoder: [
            .init(
                name: "decoder.0", up: [.interpolate(.init(mode: .linear, scale: [1, 2, 2], alignCorners: false))],
                skip: 0, merge: .init(order: .skipFirst, match: .padReplicateEnd),
                attention: .init(
                    name: "attention", gate: [conv("gate", 2, [1, 1, 1], padding: .explicit([0, 0, 0]))],
                    skip: [conv("skip", 2, [1, 1, 1], padding: .explicit([0, 0, 0]), bias: false)],
                    combine: .multiply,
                    layers: [.activation(.init(.relu)), conv("psi", 1, [1, 1, 1], padding: .explicit([0, 0, 0]))]),
                layers: [
                    conv("conv0", 4, [3, 3, 3], padding: .explicit([1, 1, 1])), .activation(.init(.relu)),
                    .spatialAttention(.init(name: "sa", kernel: [3, 3, 3], bias: true, pooling: [.max])),
                ]),
            .init(
                name: "decoder.1",
                up: [
                    .convTranspose(
                        .init(
                            name: "up", out: 4, kernel: [2, 2, 2], stride: [2, 2, 2], outputPadding: [1, 0, 0],
                            bias: true))
                ],
                skip: nil, layers: [conv("conv0", 2, [1, 1, 1], padding: .explicit([0, 0, 0]))]),
        ],
        heads: [
            .init(
                name: "head", from: 1,
                layers: [conv("out", 2, [1, 1, 1], padding: .explicit([0, 0, 0])), .activation(.init(.sigmoid))])
        ])

    static let all: [UNetArchitecture] = [
        poolsAndActivations, merges, volumetric, SchemaTwoNetworks.residualAttention, SchemaTwoNetworks.anisotropic3D,
    ]
}
