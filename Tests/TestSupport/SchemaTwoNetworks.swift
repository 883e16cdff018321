import UNetCheckpoint

/// Small schema 2.0 descriptions that use what 1.0 cannot say, built field by field.
public enum SchemaTwoNetworks {
    /// 2-D: PReLU, a strided residual unit with a projection shortcut, instance and group norm,
    /// squeeze-and-excitation, a 3×3 stride-2 transposed conv with output padding, an attention
    /// gate on the skip, spatial attention, SiLU, a softmax output head and a deep-supervision head.
    public static let residualAttention = UNetArchitecture(
        name: "residual-attention", spatialDims: 2, inChannels: 1,
        encoder: [
            .init(
                name: "encoder.0",
                layers: [
                    .conv(.init(name: "conv0", out: 4, kernel: [3, 3], padding: .explicit([1, 1]), bias: false)),
                    .norm(.init(name: "norm0", kind: .batch, eps: 1e-5)),
                    .activation(.init(.prelu, name: "act", parameters: 4)),
                ]),
            .init(
                name: "encoder.1",
                layers: [
                    .residual(
                        .init(
                            name: "unit",
                            body: [
                                .conv(
                                    .init(
                                        name: "conv0", out: 8, kernel: [3, 3], stride: [2, 2],
                                        padding: .explicit([1, 1]), bias: false)),
                                .norm(.init(name: "norm0", kind: .instance, eps: 1e-5)),
                                .activation(.init(.leakyReLU, negativeSlope: 0.01)),
                                .conv(
                                    .init(
                                        name: "conv1", out: 8, kernel: [3, 3], padding: .explicit([1, 1]), bias: true)),
                                .norm(.init(name: "norm1", kind: .group, eps: 1e-5, groups: 2)),
                            ],
                            shortcut: [
                                .conv(
                                    .init(
                                        name: "shortcut", out: 8, kernel: [1, 1], stride: [2, 2],
                                        padding: .explicit([0, 0]), bias: true))
                            ],
                            after: [.activation(.init(.relu))])),
                    .squeezeExcitation(.init(name: "se", channels: 2)),
                ]),
        ],
        decoder: [
            .init(
                name: "decoder.0",
                up: [
                    .convTranspose(
                        .init(
                            name: "up", out: 4, kernel: [3, 3], stride: [2, 2], padding: .explicit([1, 1]),
                            outputPadding: [1, 1], bias: true))
                ],
                skip: 0, merge: .init(order: .skipFirst, match: .exact),
                attention: .init(
                    name: "attention",
                    gate: [
                        .conv(.init(name: "gate", out: 2, kernel: [1, 1], padding: .explicit([0, 0]), bias: true))
                    ],
                    skip: [
                        .conv(.init(name: "skip", out: 2, kernel: [1, 1], padding: .explicit([0, 0]), bias: false))
                    ],
                    layers: [
                        .activation(.init(.relu)),
                        .conv(.init(name: "psi", out: 1, kernel: [1, 1], padding: .explicit([0, 0]), bias: true)),
                        .norm(.init(name: "psi_norm", kind: .batch, eps: 1e-5)),
                    ]),
                layers: [
                    .conv(.init(name: "conv0", out: 4, kernel: [3, 3], padding: .explicit([1, 1]), bias: true)),
                    .activation(.init(.silu)),
                    .spatialAttention(.init(name: "sa", kernel: [7, 7], bias: false)),
                ])
        ],
        heads: [
            .init(
                name: "head", from: 0,
                layers: [
                    .conv(.init(name: "out", out: 3, kernel: [1, 1], padding: .explicit([0, 0]), bias: true)),
                    .activation(.init(.softmax)),
                ]),
            .init(
                name: "aux", from: 0, role: .deepSupervision,
                layers: [.conv(.init(name: "out", out: 3, kernel: [1, 1], padding: .explicit([0, 0]), bias: true))]),
        ])

    /// 3-D and anisotropic, nnU-Net style: kernel [1,3,3], a [1,2,2] strided conv, non-affine and
    /// affine instance norm, LeakyReLU, a [1,2,2] transposed conv, the up-sampled map first.
    public static let anisotropic3D = UNetArchitecture(
        name: "anisotropic-3d", spatialDims: 3, inChannels: 2,
        encoder: [
            .init(
                name: "encoder.0",
                layers: [
                    .conv(.init(name: "conv0", out: 4, kernel: [1, 3, 3], padding: .explicit([0, 1, 1]), bias: true)),
                    .norm(.init(name: nil, kind: .instance, eps: 1e-5, affine: false)),
                    .activation(.init(.leakyReLU, negativeSlope: 0.01)),
                ]),
            .init(
                name: "encoder.1",
                layers: [
                    .conv(
                        .init(
                            name: "conv0", out: 8, kernel: [3, 3, 3], stride: [1, 2, 2],
                            padding: .explicit([1, 1, 1]), bias: true)),
                    .norm(.init(name: "norm0", kind: .instance, eps: 1e-5)),
                    .activation(.init(.leakyReLU, negativeSlope: 0.01)),
                ]),
        ],
        decoder: [
            .init(
                name: "decoder.0",
                up: [.convTranspose(.init(name: "up", out: 4, kernel: [1, 2, 2], stride: [1, 2, 2], bias: false))],
                skip: 0, merge: .init(order: .upsampledFirst, match: .exact),
                layers: [
                    .conv(.init(name: "conv0", out: 4, kernel: [3, 3, 3], padding: .explicit([1, 1, 1]), bias: true)),
                    .activation(.init(.relu)),
                ])
        ],
        heads: [
            .init(
                name: "head", from: 0,
                layers: [
                    .conv(.init(name: "out", out: 2, kernel: [1, 1, 1], padding: .explicit([0, 0, 0]), bias: true))
                ])
        ])
}
