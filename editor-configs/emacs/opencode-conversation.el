;;; opencode-conversation.el --- the OpenCode conversation document in Emacs -*- lexical-binding: t; -*-

;; With opencode-eglot.el or opencode-lsp-mode.el (which load this file and attach the
;; buffer to their server).  opencode-lsp owns one Markdown document per session, outside
;; the project (its state folder), shows it with window/showDocument (takeFocus false) and
;; keeps it current with workspace/applyEdit.  See docs/conversation.md.  Here:
;;
;; - it opens in a window beside the selected one (to the right) and the selected window
;;   stays selected; a conversation already shown is not shown twice;
;; - Emacs never writes it (the bridge writes it when you close it), never locks it and
;;   never calls it modified, so nothing asks "save?" or "modified; kill anyway?";
;; - a window whose point is at its end follows the text as it streams in; anywhere
;;   else point and the view stay where you put them;
;; - `C-c C-c' in it sends the prompt area at its end (as the code action "OpenCode: Send").

;;; Code:

(require 'cl-lib)

(defcustom opencode-conversation-display-action
  '((display-buffer-reuse-window display-buffer-in-direction)
    (direction . right)
    (inhibit-same-window . t))
  "How the conversation is shown when the bridge opens it without the focus."
  :type 'sexp
  :group 'tools)

(defvar-local opencode-conversation-send-function nil
  "How this conversation's client sends its prompt area (set by the client's config).")

(defvar opencode-conversation-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-c C-c") #'opencode-conversation-send)
    map)
  "Keys in a conversation document.")

(define-minor-mode opencode-conversation-mode
  "A buffer showing an OpenCode conversation: Emacs never saves it (the bridge does),
never calls it modified, and `C-c C-c' sends the prompt area at its end."
  :lighter " OpenCode-chat"
  :keymap opencode-conversation-mode-map
  (if opencode-conversation-mode
      (progn
        (setq-local create-lockfiles nil)
        (setq-local make-backup-files nil)
        (setq-local buffer-offer-save nil)
        (add-hook 'after-change-functions #'opencode-conversation--unmodified nil t)
        (add-hook 'write-contents-functions #'opencode-conversation--not-written nil t)
        (set-buffer-modified-p nil))
    (remove-hook 'after-change-functions #'opencode-conversation--unmodified t)
    (remove-hook 'write-contents-functions #'opencode-conversation--not-written t)))

(defun opencode-conversation--unmodified (&rest _)
  "The bridge has the text (didChange) and writes it: the buffer is never modified."
  (set-buffer-modified-p nil))

(defun opencode-conversation--not-written ()
  "C-x C-s writes nothing: the bridge owns the file."
  (set-buffer-modified-p nil)
  (message "OpenCode keeps this conversation itself; nothing to save")
  t)

(defun opencode-conversation-display (buffer)
  "Show BUFFER beside the selected window without selecting it; return its window."
  (display-buffer buffer opencode-conversation-display-action))

(defun opencode-conversation-following (buffer)
  "The windows showing BUFFER with point at its end (they follow what is appended)."
  (with-current-buffer buffer
    (cl-remove-if-not (lambda (window) (>= (window-point window) (point-max)))
                      (get-buffer-window-list buffer nil t))))

(defun opencode-conversation-follow (windows)
  "Move each of WINDOWS (from `opencode-conversation-following') to its buffer's end."
  (dolist (window windows)
    (when (window-live-p window)
      (set-window-point window (with-current-buffer (window-buffer window) (point-max))))))

(defvar opencode-conversation-attach-functions nil
  "Functions called with a conversation's project folder in its buffer, opened as a file
\(`find-file', `recentf'); the client's config attaches its server for that folder.")

(defun opencode-conversation-folder ()
  "The project folder this buffer's conversation names (\"- Folder: `…`\" under
\"- Session: `ses_…`\"), or nil when it is not a conversation document."
  (when (and buffer-file-name (string-suffix-p ".md" buffer-file-name))
    (save-excursion
      (save-restriction
        (widen)
        (goto-char (point-min))
        (let ((head (buffer-substring-no-properties (point) (line-end-position 8))))
          (and (string-match-p "^- Session: `ses_" head)
               (string-match "^- Folder: `\\(.+\\)`$" head)
               (match-string 1 head)))))))

(defun opencode-conversation--on-find-file ()
  "A conversation opened as a file: the server of its folder manages it, as when shown."
  (when-let ((folder (opencode-conversation-folder)))
    (run-hook-with-args-until-success 'opencode-conversation-attach-functions folder)))

(add-hook 'find-file-hook #'opencode-conversation--on-find-file)

(defun opencode-conversation-send ()
  "Send the prompt area at the end of this conversation to its session."
  (interactive)
  (unless (and opencode-conversation-mode opencode-conversation-send-function)
    (user-error "This buffer is not an OpenCode conversation"))
  (funcall opencode-conversation-send-function))

(provide 'opencode-conversation)
;;; opencode-conversation.el ends here
