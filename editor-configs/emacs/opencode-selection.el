;;; opencode-selection.el --- your region as an OpenCode TUI's context -*- lexical-binding: t; -*-

;; With opencode-eglot.el or opencode-lsp-mode.el (which load this file): while the region
;; is active, each change of it is sent to opencode-lsp as an `opencode/selection'
;; notification (after `opencode-selection-delay' seconds of quiet), and switching to
;; another file's buffer sends that file with nothing selected.  An OpenCode TUI running
;; in the same project shows it under its prompt and sends it with its next prompt.
;; Deactivating the region keeps the last selection: you select, then go to the TUI.
;; See docs/tui.md.

;;; Code:

(require 'cl-lib)

(defcustom opencode-selection-enabled t
  "Whether to tell opencode-lsp what you select (for the OpenCode TUI beside Emacs)."
  :type 'boolean
  :group 'tools)

(defcustom opencode-selection-delay 0.1
  "Seconds of quiet before a changed region is sent."
  :type 'number
  :group 'tools)

(defvar opencode-selection--timer nil)
(defvar opencode-selection--last nil
  "The last params sent, to send each change once.")

(defun opencode-selection--position (pos)
  "POS as an LSP position, counted as the running client counts."
  (cond ((and (bound-and-true-p eglot--managed-mode) (fboundp 'eglot--pos-to-lsp-position))
         (eglot--pos-to-lsp-position pos))
        ((fboundp 'lsp--point-to-position) (lsp--point-to-position pos))))

(defun opencode-selection--uri ()
  (cond ((and (bound-and-true-p eglot--managed-mode) (fboundp 'eglot--path-to-uri))
         (eglot--path-to-uri buffer-file-name))
        ((fboundp 'lsp--buffer-uri) (lsp--buffer-uri))))

(defun opencode-selection--notify (params)
  "Send PARAMS to this buffer's opencode-lsp, if one serves it; non-nil if sent."
  (cond ((and (bound-and-true-p eglot--managed-mode) (fboundp 'opencode-eglot--ours-p))
         (let ((server (eglot-current-server)))
           (when (and server (opencode-eglot--ours-p server))
             (jsonrpc-notify server :opencode/selection params)
             t)))
        ((and (bound-and-true-p lsp-mode) (fboundp 'opencode-lsp-mode--workspace))
         (let ((workspace (ignore-errors (opencode-lsp-mode--workspace))))
           (when workspace
             (with-lsp-workspace workspace (lsp-notify "opencode/selection" params))
             t)))))

(defun opencode-selection-params ()
  "This buffer's region (or, without one, the file) as `opencode/selection' params."
  (when buffer-file-name
    (list :uri (opencode-selection--uri)
          :range (if (use-region-p)
                     (list :start (opencode-selection--position (region-beginning))
                           :end (opencode-selection--position (region-end)))
                   nil))))

(defun opencode-selection-send ()
  "Send the region (or the file) now, unless it was the last one sent."
  (interactive)
  (setq opencode-selection--timer nil)
  (let ((params (opencode-selection-params)))
    (when (and params (not (equal params opencode-selection--last))
               (or (use-region-p)
                   ;; No region: the file, unless the last selection was in it.
                   (not (equal (plist-get params :uri)
                               (plist-get opencode-selection--last :uri)))))
      (when (opencode-selection--notify params)
        (setq opencode-selection--last params)))))

(defun opencode-selection--after-command ()
  (when (and opencode-selection-enabled buffer-file-name
             (or (bound-and-true-p eglot--managed-mode) (bound-and-true-p lsp-mode)))
    (when opencode-selection--timer
      (cancel-timer opencode-selection--timer))
    (setq opencode-selection--timer
          (run-with-idle-timer opencode-selection-delay nil
                               (let ((buffer (current-buffer)))
                                 (lambda ()
                                   (when (buffer-live-p buffer)
                                     (with-current-buffer buffer
                                       (opencode-selection-send)))))))))

(add-hook 'post-command-hook #'opencode-selection--after-command)

(provide 'opencode-selection)
;;; opencode-selection.el ends here
