import QRCode from 'qrcode';

/**
 * The QR code as SVG markup, rendered on the server so the page needs no QR library. Error
 * correction M survives the glare and moiré of a phone reading a monitor without making long
 * links too dense; the 4-module quiet zone is the minimum the standard asks for.
 */
export async function qrSvg(text: string): Promise<string> {
  return QRCode.toString(text, {
    type: 'svg',
    errorCorrectionLevel: 'M',
    margin: 4,
    color: { dark: '#000000', light: '#ffffff' },
  });
}
